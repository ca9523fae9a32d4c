// Process listing from /proc for `processes` (the API's `top`): every descendant of `root`,
// docker-style columns. Pure reads of /proc; malformed entries are skipped.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include <string>
#include <vector>

namespace zunvm::agent {

struct ProcessTable {
  std::vector<std::string> titles;                 // UID PID PPID C STIME TTY TIME CMD
  std::vector<std::vector<std::string>> rows;
};

ProcessTable ListDescendants(pid_t root, const std::string& proc = "/proc");

}  // namespace zunvm::agent

namespace zunvm::agent {

// Whole-guest counters for `stats` (the sandbox is the VM): from /proc/stat, /proc/meminfo,
// /proc/diskstats and /proc/net/dev. Missing files leave zeros.
struct GuestStats {
  uint64_t cpu_usage_usec = 0;   // busy time of all cpus since boot
  uint64_t mem_total_bytes = 0, mem_used_bytes = 0;
  uint64_t block_read_bytes = 0, block_write_bytes = 0;
  uint64_t net_rx_bytes = 0, net_tx_bytes = 0;
};

GuestStats ReadGuestStats(const std::string& proc = "/proc");

}  // namespace zunvm::agent
