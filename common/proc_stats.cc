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
  auto fields = ProcStatFields(pid);
  if (!fields) return Err(Gone(pid));
  uint64_t ticks = 0;
  for (size_t i : {size_t{14 - 3}, size_t{15 - 3}}) {  // utime, stime
    auto v = i < fields->size() ? ParseInt((*fields)[i]) : std::nullopt;
    if (v && *v >= 0) ticks += static_cast<uint64_t>(*v);
  }
  return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
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

std::optional<pid_t> ReadPid(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!in || !std::getline(in, text)) return std::nullopt;
  auto n = ParseInt(Trim(text));
  if (!n || *n <= 0 || *n > 4194304) return std::nullopt;
  return static_cast<pid_t>(*n);
}

std::optional<std::vector<std::string>> ProcStatFields(pid_t pid) {
  std::ifstream in(ProcPath(pid, "stat"));
  std::string text;
  if (!in || !std::getline(in, text)) return std::nullopt;
  size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

}  // namespace zunvm
