// Figures of a process from /proc, for the metrics (common/metrics.h). NotFound when the
// process is gone. Thread safety: any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace zunvm {

struct ProcMemory {
  uint64_t rss = 0, pss = 0;  // bytes, from /proc/<pid>/smaps_rollup
};
Result<ProcMemory> ReadProcMemory(pid_t pid);
// User plus system CPU time, seconds.
Result<double> ReadProcCpuSeconds(pid_t pid);
// Threads (/proc/<pid>/status) and open file descriptors (/proc/<pid>/fd).
Result<int> ReadProcThreads(pid_t pid);
Result<int> CountOpenFds(pid_t pid);
// A pid file's pid (libvirt's /run/libvirt/qemu/<domain>.pid, conmon's and runc's); nullopt
// when the file is missing or holds no pid (1..4194304, the kernel's PID_MAX_LIMIT).
std::optional<pid_t> ReadPid(const std::string& path);
// The fields of /proc/<pid>/stat after the command name, from field 3 (the state letter) on;
// nullopt when the process is gone. The name may hold spaces and parentheses: fields count
// from the last ')'.
std::optional<std::vector<std::string>> ProcStatFields(pid_t pid);

}  // namespace zunvm
