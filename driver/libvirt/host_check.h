// The libvirt driver's part of the host check (common/host_check.h): libvirt reachable, QEMU
// and its machine types, KVM usable for the virt_type in use, each VM runtime's guest image
// present and speaking this zunvmd's agent protocol, and every path QEMU opens reachable by the
// user libvirt runs it as. Thread safety: any thread; opens its own libvirt connection.
#pragma once

#include <string>
#include <vector>

#include "common/host_check.h"
#include "common/status.h"

namespace zunvm::libvirt {

struct HostCheckInput {
  std::string uri = "qemu:///system";
  std::string qemu_conf = "/etc/libvirt/qemu.conf";  // where libvirt's qemu `user` is set
  std::string kvm_device = "/dev/kvm";
  struct Guest {
    std::string runtime, kernel, initrd, machine, virt_type;
    std::string unavailable;  // why the runtime's image cannot be used (driver_factory), if so
    bool is_default = false;  // [DEFAULT] default_runtime: zunvmd cannot start without it
  };
  std::vector<Guest> guests;
  std::vector<std::string> qemu_paths;  // directories QEMU opens files in (state dir, templates)
};

std::vector<CheckItem> CheckLibvirtHost(const HostCheckInput& in);

// The user libvirt's system instance runs QEMU as: qemu.conf's `user`, else Debian's
// compiled-in libvirt-qemu (root when that user does not exist). A numeric "+N" is returned as
// the name of uid N when it has one.
std::string QemuUser(const std::string& qemu_conf);

// The agent protocol version named in a guest initramfs (kProtocolMarker), or NotFound when
// the file holds no marker (a compressed or foreign image).
Result<int> GuestProtocolVersion(const std::string& initrd);

}  // namespace zunvm::libvirt
