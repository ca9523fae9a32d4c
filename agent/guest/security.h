// The second wall inside the guest: what a container's processes may do. The VM keeps the
// host safe; this keeps the guest kernel, the agent and its devices safe from the container,
// with Docker's defaults (docs/security.md). The fields are the OCI runtime spec's
// (process.capabilities, process.noNewPrivileges, linux.seccomp, linux.maskedPaths,
// linux.readonlyPaths, device rules), so that a config.json can fill them later.
//
// Thread safety: none needed. Apply* run in a container's child process (after clone or
// fork of the single-threaded agent), before execve; they report errno-style failures as
// Status without allocating more than a few strings.
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace zunvm::agent {

struct ContainerSecurity {
  bool privileged = false;
  // Bounding = effective = permitted = inheritable (for root); ambient is always empty.
  std::vector<int> capabilities;
  bool no_new_privileges = true;
  // Docker's default seccomp profile (seccomp_profile.h) when set.
  bool seccomp = true;
  std::vector<std::string> masked_paths;    // files: /dev/null over them; directories: empty ro tmpfs
  std::vector<std::string> readonly_paths;  // bind-remounted read-only
  // Only the standard device nodes open: /dev, /dev/shm and the root are mounted nodev, the
  // nodes are bind mounts of the guest's own. Privileged: every device of the guest.
  bool standard_devices_only = true;
};

// Docker's defaults (the lists of common/docker_defaults.h): its 14 capabilities,
// no_new_privs, seccomp, masked (plus the guest's virtio ports) and read-only paths, the
// standard devices; or, `privileged`, everything (all capabilities, no seccomp, no masks,
// every device, /sys writable).
ContainerSecurity DockerDefaults(bool privileged);

// CAP_* numbers by name ("CAP_CHOWN" or "chown"); -1 for an unknown name.
int CapabilityByName(const std::string& name);
// The capabilities of Docker's default set, as CapEff shows them (a bit per capability).
uint64_t CapabilityMask(const std::vector<int>& caps);

// The container's root bind mount at `root` remounted nodev (standard devices only), keeping
// its other flags.
Status ApplyRootRules(const std::string& root, const ContainerSecurity& sec);
// The container's /dev under `root`: a tmpfs (nodev, standard devices only) with null, zero,
// full, random, urandom and tty bound from the guest's /dev (privileged: every device node of
// the guest's /dev), a new devpts instance with ptmx, /dev/shm, and the fd symlinks.
// A container's own devpts instance: its ptys only, /dev/pts/ptmx usable by everyone.
inline constexpr const char kDevptsOptions[] = "newinstance,ptmxmode=0666,mode=0620";

Status SetUpDev(const std::string& root, const ContainerSecurity& sec, const std::string& devpts = "");
// Under `root` (the container's root before pivot_root, with /proc and /sys mounted):
// masked paths hidden, read-only paths remounted, and the guest's virtio ports hidden from
// /sys. Paths that do not exist are skipped.
Status ApplyPathRules(const std::string& root, const ContainerSecurity& sec);

// Drops the bounding set to sec.capabilities. Call while still root, before setuid.
Status DropBoundingSet(const ContainerSecurity& sec);
// After setuid: effective/permitted/inheritable (root only; a non-root user keeps none, as
// under Docker), ambient cleared, no_new_privs, then the seccomp filter `prog` (ignored
// without sec.seccomp). The last step before execve.
Status ApplyProcessRules(const ContainerSecurity& sec, const std::vector<sock_filter>& prog);

}  // namespace zunvm::agent
