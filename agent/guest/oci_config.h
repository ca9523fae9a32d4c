// A container described by its OCI runtime-spec config.json (the document zunvmd writes for
// every container, driver/oci/oci_spec.h): what the agent takes from it to build the container
// itself, as kata-agent does. The root filesystem and mounts stay the request's disks (inside a
// VM they are virtio disks, not host paths).
//
// Taken: process.args, env, cwd, user.uid/gid, rlimits (RLIMIT_<NAME> the agent knows),
// capabilities.bounding, noNewPrivileges; hostname; linux.resources memory.limit and
// cpu.quota/period; linux.seccomp (present: the agent's own filter, which a unit test proves
// identical to the spec's; absent: none), linux.maskedPaths, linux.readonlyPaths, and the
// device rule (allow-all is a privileged container's: every device of the guest).
//
// Pure; InvalidArgument naming the field for a value of the wrong type or out of range.
#pragma once

#include <nlohmann/json.hpp>

#include "agent/guest/container.h"
#include "common/status.h"

namespace zunvm::agent {

Status ApplyOciConfig(const nlohmann::json& oci, ContainerSpec& spec);

}  // namespace zunvm::agent
