// Real figures of this machine for /v1/hosts: cpus, memory, disk, OS, kernel, architecture.
// Parsers of /proc/meminfo and /etc/os-release text are pure (testable with fixed input).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace zunvm {

struct HostInfo {
  std::string hostname, architecture, os_type, os, kernel_version;
  int cpus = 0;
  int64_t mem_total_mib = 0, mem_free_mib = 0, mem_available_mib = 0;
  int64_t disk_total_gib = 0, disk_free_gib = 0;
};

struct MemInfo {
  int64_t total_kib = 0, free_kib = 0, available_kib = 0;
};

// InvalidArgument when MemTotal is missing.
Result<MemInfo> ParseMeminfo(const std::string& text);
// PRETTY_NAME (quotes removed), else NAME, else "Linux".
std::string ParseOsRelease(const std::string& text);
// Reads the machine; disk figures are of the filesystem holding `disk_path`.
Result<HostInfo> ReadHostInfo(const std::string& disk_path, const std::string& hostname);

}  // namespace zunvm
