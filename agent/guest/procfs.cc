#include "agent/guest/procfs.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace zunvm::agent {

namespace {

struct Entry {
  pid_t pid = 0, ppid = 0;
  std::string uid = "0", cmd, tty = "?";
  unsigned long long ticks = 0;
};

bool ReadEntry(const std::string& dir, pid_t pid, Entry& e) {
  std::ifstream stat(dir + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  // "pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime"
  auto close = line.rfind(')');
  auto open = line.find('(');
  if (close == std::string::npos || open == std::string::npos || close < open) return false;
  std::istringstream rest(line.substr(close + 2));
  std::string state;
  long ppid = 0, pgrp = 0, session = 0, tty_nr = 0, tpgid = 0;
  unsigned long flags = 0, minflt = 0, cminflt = 0, majflt = 0, cmajflt = 0, utime = 0, stime = 0;
  if (!(rest >> state >> ppid >> pgrp >> session >> tty_nr >> tpgid >> flags >> minflt >> cminflt >>
        majflt >> cmajflt >> utime >> stime)) {
    return false;
  }
  e.pid = pid;
  e.ppid = static_cast<pid_t>(ppid);
  e.ticks = utime + stime;
  if (tty_nr != 0) e.tty = "pts/" + std::to_string((tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00));
  std::ifstream cmdline(dir + "/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
  for (char& c : raw) {
    if (c == '\0') c = ' ';
  }
  while (!raw.empty() && raw.back() == ' ') raw.pop_back();
  e.cmd = raw.empty() ? "[" + line.substr(open + 1, close - open - 1) + "]" : raw;
  std::ifstream status(dir + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("Uid:", 0) == 0) {
      std::istringstream u(line.substr(4));
      u >> e.uid;
      break;
    }
  }
  return true;
}

std::string CpuTime(unsigned long long ticks) {
  long hz = ::sysconf(_SC_CLK_TCK);
  unsigned long long s = hz > 0 ? ticks / static_cast<unsigned long long>(hz) : 0;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02llu:%02llu:%02llu", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

}  // namespace

ProcessTable ListDescendants(pid_t root, const std::string& proc) {
  std::map<pid_t, Entry> all;
  if (DIR* d = ::opendir(proc.c_str())) {
    while (dirent* de = ::readdir(d)) {
      char* end = nullptr;
      long pid = std::strtol(de->d_name, &end, 10);
      if (*end != '\0' || pid <= 0) continue;
      Entry e;
      if (ReadEntry(proc + "/" + de->d_name, static_cast<pid_t>(pid), e)) all[e.pid] = e;
    }
    ::closedir(d);
  }
  std::set<pid_t> inside = {root};
  bool grew = true;
  while (grew) {  // transitive closure over ppid links
    grew = false;
    for (const auto& [pid, e] : all) {
      if (!inside.count(pid) && inside.count(e.ppid)) grew = inside.insert(pid).second || grew;
    }
  }
  ProcessTable t;
  t.titles = {"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"};
  for (const auto& [pid, e] : all) {
    if (pid == root || !inside.count(pid)) continue;
    t.rows.push_back({e.uid, std::to_string(pid), std::to_string(e.ppid), "0", "-", e.tty,
                      CpuTime(e.ticks), e.cmd});
  }
  return t;
}

}  // namespace zunvm::agent
