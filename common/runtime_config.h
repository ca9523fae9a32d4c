// Runtimes: what a container's `runtime` names. Each is a [runtime:<name>] section of
// zunvm.conf (docs/runtimes.md): `type = vm` is a guest profile (its own kernel, initramfs,
// machine and sizes, optional PCI passthrough), `type = oci` a trusted runtime on the host
// (runc or crun). zunvmd ships built-in sections; a section in the file replaces the built-in
// one of the same name wholly. [DEFAULT] runtimes lists the ones containers may name.
//
// Pure data and parsing; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace zunvm {

enum class RuntimeType { kVm, kOci };

struct RuntimeProfile {
  std::string name;
  RuntimeType type = RuntimeType::kVm;

  // type = vm. kernel/initrd: both empty for [guest]'s image; a relative path is under the
  // directory zunvmd's guest images are installed in (guest/, guest-debian/, ...).
  std::string kernel, initrd;
  std::string machine = "q35";        // the only machine type our domains are built for
  std::string virt_type;              // kvm | qemu; empty: [libvirt] virt_type
  double vcpus = 0;                   // cpu of a container that asks none; 0: [DEFAULT] default_cpu
  int64_t memory_mib = 0;             // memory likewise; 0: [DEFAULT] default_memory
  std::string kernel_params;          // appended to the guest kernel's command line
  std::vector<std::string> hostdev;   // PCI addresses (0000:3b:00.0) passed through with VFIO

  // type = oci
  std::string binary;                 // /usr/bin/runc or /usr/bin/crun
  std::string monitor;                // optional: /usr/bin/conmon

  // Set at start by the daemon when this host cannot run the runtime (a missing kernel, PCI
  // device or binary): the reason, for the 400 of a create that names it. Not configuration.
  std::string unavailable;

  bool operator==(const RuntimeProfile&) const = default;
};

const char* RuntimeTypeName(RuntimeType t);

// The sections zunvmd ships: kata (the guest built with zunvmd: its minimal kernel) and
// kata-debian (the same agent on Debian's kernel), both of type vm.
std::vector<RuntimeProfile> BuiltinRuntimes();

// Sets one option of a [runtime:<name>] section. InvalidArgument with "expected ..." (the
// caller names the option) for a bad value, or "unknown option" for an unknown key.
Status SetRuntimeOption(RuntimeProfile& p, const std::string& key, const std::string& value);
// The option names a [runtime:<name>] section accepts.
const std::vector<std::string>& RuntimeOptionNames();
// A runtime name: 1..64 of [A-Za-z0-9._-], starting with a letter or digit.
bool ValidRuntimeName(const std::string& name);
// A PCI address dddd:bb:ss.f in lower-case hex.
bool ValidPciAddress(const std::string& addr);
// Cross-option checks of one profile; the message names "[runtime:<name>] <option>".
Status ValidateRuntimeProfile(const RuntimeProfile& p);

}  // namespace zunvm
