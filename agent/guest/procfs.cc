#include "agent/guest/procfs.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <cctype>
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

namespace zunvm::agent {

GuestStats ReadGuestStats(const std::string& proc) {
  GuestStats s;
  long hz = ::sysconf(_SC_CLK_TCK);
  {
    std::ifstream f(proc + "/stat");
    std::string cpu;
    uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    if (f >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal && cpu == "cpu" && hz > 0) {
      s.cpu_usage_usec = (user + nice + system + irq + softirq + steal) * 1000000ULL / static_cast<uint64_t>(hz);
    }
  }
  {
    std::ifstream f(proc + "/meminfo");
    std::string key, unit;
    uint64_t v = 0, total = 0, avail = 0;
    while (f >> key >> v) {
      std::getline(f, unit);
      if (key == "MemTotal:") total = v * 1024;
      if (key == "MemAvailable:") avail = v * 1024;
    }
    s.mem_total_bytes = total;
    s.mem_used_bytes = total > avail ? total - avail : 0;
  }
  {
    std::ifstream f(proc + "/diskstats");
    std::string line;
    while (std::getline(f, line)) {
      std::istringstream in(line);
      unsigned major = 0, minor = 0;
      std::string name;
      uint64_t rd = 0, rd_merged = 0, rd_sectors = 0, rd_ms = 0, wr = 0, wr_merged = 0, wr_sectors = 0;
      if (!(in >> major >> minor >> name >> rd >> rd_merged >> rd_sectors >> rd_ms >> wr >> wr_merged >> wr_sectors)) continue;
      // Whole disks only (vda, not vda1), so partitions are not counted twice.
      if (name.rfind("loop", 0) == 0 || name.rfind("ram", 0) == 0) continue;
      if (!name.empty() && std::isdigit(static_cast<unsigned char>(name.back())) &&
          name.rfind("nvme", 0) != 0) {
        continue;
      }
      s.block_read_bytes += rd_sectors * 512;
      s.block_write_bytes += wr_sectors * 512;
    }
  }
  {
    std::ifstream f(proc + "/net/dev");
    std::string line;
    while (std::getline(f, line)) {
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string ifname = line.substr(0, colon);
      ifname.erase(0, ifname.find_first_not_of(' '));
      if (ifname == "lo") continue;
      std::istringstream in(line.substr(colon + 1));
      uint64_t rx = 0, f1, f2, f3, f4, f5, f6, f7, tx = 0;
      if (in >> rx >> f1 >> f2 >> f3 >> f4 >> f5 >> f6 >> f7 >> tx) {
        s.net_rx_bytes += rx;
        s.net_tx_bytes += tx;
      }
    }
  }
  return s;
}

}  // namespace zunvm::agent
