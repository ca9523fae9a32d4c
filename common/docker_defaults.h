// Docker's default privileges for a container, as data: the one description shared by the
// guest agent (agent/guest/security.cc, seccomp_profile.cc), which applies them itself, and the
// OCI config.json generator (driver/oci/oci_spec.cc), which hands them to runc/crun.
// docs/security.md says why each list is what it is.
//
// Plain constant data (no libseccomp, nothing allocated): every function returns a view of
// static storage, valid for the whole program and safe from any thread.
#pragma once

#include <cerrno>
#include <cstdint>
#include <optional>
#include <span>

namespace zunvm::docker {

// A Linux capability: its name without "CAP_" and its number (<linux/capability.h>).
struct Capability {
  const char* name;
  int number;
};
// Every capability this build knows, in number order (0..CAP_LAST_CAP, no gaps).
std::span<const Capability> Capabilities();
// Docker's default set (moby's oci/caps/defaults.go), names without "CAP_".
std::span<const char* const> DefaultCapabilities();

// Paths hidden from a default container (moby's oci/defaults.go): a file gets /dev/null over
// it, a directory an empty read-only tmpfs.
std::span<const char* const> MaskedPaths();
// Paths remounted read-only in a default container (moby's oci/defaults.go).
std::span<const char* const> ReadonlyPaths();

// Seccomp. A default container's filter denies by default with kSeccompDefaultErrno, allows
// every system call libseccomp knows for the ABIs below except those of DeniedSyscalls(), and
// then adds ConditionalSyscalls(). This is Docker's default profile (moby's
// profiles/seccomp/default.json) for a container with Docker's default capabilities.
inline constexpr int kSeccompDefaultErrno = EPERM;

// An ABI the filter covers. `names_known` says whether the system calls libseccomp knows for
// it join the allowed names (x32's are x86_64's: it only needs the architecture).
struct SeccompArch {
  const char* oci_name;         // "SCMP_ARCH_X86_64" (config.json's linux.seccomp.architectures)
  const char* libseccomp_name;  // "x86_64" (seccomp_arch_resolve_name)
  bool names_known;
};
std::span<const SeccompArch> SeccompArchitectures();

// One line of the denied table: a system call and why a default container may not make it.
struct DeniedSyscall {
  const char* name;
  const char* why;
};
std::span<const DeniedSyscall> DeniedSyscalls();

// A condition on one argument of a system call, with libseccomp's and the OCI spec's meaning:
// kEqual: arg == value; kNotEqual: arg != value; kMaskedEqual: (arg & value) == value_two.
enum class ArgOp { kEqual, kNotEqual, kMaskedEqual };
struct ArgCondition {
  unsigned index;
  ArgOp op;
  uint64_t value;
  uint64_t value_two;
};
// A rule for a call of the denied table: `errno_ret` (0: allowed) when `arg` holds (no arg:
// always). Several rules for one name: any of them may match.
struct ConditionalSyscall {
  const char* name;
  int errno_ret;
  std::optional<ArgCondition> arg;
  const char* why;
};
std::span<const ConditionalSyscall> ConditionalSyscalls();

}  // namespace zunvm::docker
