// The seccomp filter of a default (unprivileged) container: Docker's default profile semantics
// for a container with Docker's default capabilities, as common/docker_defaults.h describes
// them. The filter denies by default (EPERM), so a system call that libseccomp does not know
// (newer than the filter) is refused; every call libseccomp knows is allowed except those of
// docker::DeniedSyscalls(), which Docker's profile refuses too, plus a few allowed only with
// certain arguments (docker::ConditionalSyscalls(): clone without namespace flags,
// personality's harmless personas, socket outside AF_VSOCK).
//
// Thread safety: BuildDefaultFilter is pure; call it once and share the result. The filter is
// loaded in a container's child just before execve (LoadFilter: one prctl, nothing allocated).
#pragma once

#include <linux/filter.h>

#include <vector>

#include "common/status.h"

namespace zunvm::agent {

// The compiled BPF program (the ABIs of docker::SeccompArchitectures(): x86_64, x86, x32).
Result<std::vector<sock_filter>> BuildDefaultFilter();

// Loads `prog` into the calling thread (and its future children). Requires no_new_privs or
// CAP_SYS_ADMIN. Returns errno on failure (0 on success): it runs in a forked child.
int LoadFilter(const std::vector<sock_filter>& prog);

}  // namespace zunvm::agent
