// Probes of the host that zunvmd's check (common/host_check.h) is made of. Each answers one
// question from the real system; none changes anything. Thread safety: all may be called from
// any thread; ReachableBy forks (the child only calls async-signal-safe functions).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace zunvm {

// Ok when `user` (with its groups, as the kernel decides, ACLs included) can reach `path`:
// search every existing directory above it, from / down (the path itself, existing or not, is
// not checked). Forbidden naming the first directory it cannot pass, with its mode and owner;
// NotFound for an unknown user.
Status ReachableBy(const std::string& path, const std::string& user);

// Bytes available to unprivileged writers on the filesystem holding `path` (or its deepest
// existing ancestor).
Result<uint64_t> FreeBytes(const std::string& path);

// How cgroups are mounted: "v2" (unified), "hybrid" (v1 controllers with v2 at
// /sys/fs/cgroup/unified) or "v1".
std::string CgroupLayout(const std::string& root = "/sys/fs/cgroup");

// This process's limits on open files (RLIMIT_NOFILE).
struct FileLimit {
  uint64_t soft = 0;
  uint64_t hard = 0;
};
FileLimit OpenFileLimit();

}  // namespace zunvm
