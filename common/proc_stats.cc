#include "common/proc_stats.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/strings.h"

namespace zunvm {

namespace {

std::string ProcPath(pid_t pid, const char* leaf) { return "/proc/" + std::to_string(pid) + "/" + leaf; }

Status Gone(pid_t pid) { return Status::NotFound("no process " + std::to_string(pid)); }

}  // namespace

Result<ProcMemory> ReadProcMemory(pid_t pid) {
  std::ifstream in(ProcPath(pid, "smaps_rollup"));
  if (!in) return Err(Gone(pid));
  ProcMemory m;
  std::string key, unit;
  uint64_t kib = 0;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    if (!(fields >> key >> kib >> unit)) continue;
    if (key == "Rss:") m.rss = kib * 1024;
    if (key == "Pss:") m.pss = kib * 1024;
  }
  return m;
}

Result<double> ReadProcCpuSeconds(pid_t pid) {
  std::ifstream in(ProcPath(pid, "stat"));
  std::string text;
  if (!in || !std::getline(in, text)) return Err(Gone(pid));
  // The command name may hold spaces and parentheses: fields count from the last ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos) return Err(Status::Internal("malformed " + ProcPath(pid, "stat")));
  std::istringstream fields(text.substr(close + 1));
  std::string f;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {  // field 3 is the state
    auto v = ParseInt(f);
    if (i == 14 && v && *v >= 0) utime = static_cast<uint64_t>(*v);
    if (i == 15 && v && *v >= 0) stime = static_cast<uint64_t>(*v);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

Result<int> ReadProcThreads(pid_t pid) {
  std::ifstream in(ProcPath(pid, "status"));
  if (!in) return Err(Gone(pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) {
      auto n = ParseInt(Trim(line.substr(8)));
      if (n) return static_cast<int>(*n);
    }
  }
  return Err(Status::Internal("no Threads in " + ProcPath(pid, "status")));
}

Result<int> CountOpenFds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator(ProcPath(pid, "fd"), ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  if (ec) return Err(Gone(pid));
  return n;
}

Result<pid_t> ReadPidFile(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!in || !std::getline(in, text)) return Err(Status::NotFound("no pid file " + path));
  auto n = ParseInt(Trim(text));
  if (!n || *n <= 0 || *n > 4194304) return Err(Status::Invalid("no pid in " + path));
  return static_cast<pid_t>(*n);
}

}  // namespace zunvm
