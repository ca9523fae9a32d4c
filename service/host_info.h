// Real figures of this machine for /v1/hosts: cpus, memory, disk, OS, kernel, architecture.
// The parsers of /proc/meminfo and /etc/os-release text are pure, so they are testable with
// fixed input; ReadHostInfo reads the live system. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace zunvm {

struct HostInfo {
  std::string hostname, architecture, os_type, os, kernel_version;
  int cpus = 0;
  int64_t mem_total_mib = 0, mem_free_mib = 0, mem_available_mib = 0;
  int64_t disk_total_gib = 0, disk_free_gib = 0;  // free: available to unprivileged users
};

// Figures of /proc/meminfo in KiB (the file's "kB").
struct MemInfo {
  int64_t total_kib = 0, free_kib = 0, available_kib = 0;
};

// InvalidArgument when MemTotal is missing or not a number. MemAvailable, absent before
// Linux 3.14, falls back to MemFree.
Result<MemInfo> ParseMeminfo(const std::string& text);
// PRETTY_NAME (shell quoting removed), else NAME, else "Linux".
std::string ParseOsRelease(const std::string& text);
// /proc/meminfo of this machine, parsed; Internal when it cannot be read or parsed.
Result<MemInfo> ReadMeminfo();
// Reads the machine. Disk figures are of the filesystem holding `disk_path` (an error when it
// cannot be stat'ed); an empty `hostname_override` means the machine's hostname. Internal when
// /proc/meminfo cannot be read; a missing /etc/os-release only makes `os` "Linux".
Result<HostInfo> ReadHostInfo(const std::string& disk_path, const std::string& hostname_override);

}  // namespace zunvm
