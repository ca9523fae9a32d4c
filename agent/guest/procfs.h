// Process listing from /proc for `processes` (the API's `top`): every descendant of `root`,
// docker-style columns. Pure reads of /proc; malformed entries are skipped.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace zunvm::agent {

struct ProcessTable {
  std::vector<std::string> titles;                 // UID PID PPID C STIME TTY TIME CMD
  std::vector<std::vector<std::string>> rows;
};

ProcessTable ListDescendants(pid_t root, const std::string& proc = "/proc");

}  // namespace zunvm::agent
