// Figures of a process from /proc, for the metrics (common/metrics.h). NotFound when the
// process is gone. Thread safety: any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

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
// A pid file's number (as libvirt writes /run/libvirt/qemu/<domain>.pid).
Result<pid_t> ReadPidFile(const std::string& path);

}  // namespace zunvm
