// What the API shows of a running container that is not its record: exec output, processes,
// resource use and file archives. Drivers produce them; the service passes them through.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zunvm {

enum class Stream { kStdout = 1, kStderr = 2 };

struct ExecResult {
  std::string output;   // stdout and stderr, interleaved as produced
  int exit_code = 0;
};

struct TopResult {
  std::vector<std::string> titles;
  std::vector<std::vector<std::string>> processes;
};

struct SandboxStats {
  double cpu_percent = 0;
  double mem_usage_mib = 0;
  double mem_limit_mib = 0;
  uint64_t block_read = 0, block_write = 0;
  uint64_t net_rx = 0, net_tx = 0;
};

struct PathStat {
  std::string name;
  int64_t size = 0;
  uint32_t mode = 0;
  std::string mtime;        // RFC 3339
  std::string link_target;
};

struct Archive {
  std::string tar;          // raw tar bytes
  PathStat stat;
};

}  // namespace zunvm
