#include "service/host_info.h"

#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/strings.h"

namespace zunvm {

Result<MemInfo> ParseMeminfo(const std::string& text) {
  MemInfo m;
  bool total = false;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    std::istringstream vs(line.substr(colon + 1));
    int64_t v = 0;
    if (!(vs >> v)) continue;
    if (key == "MemTotal") {
      m.total_kib = v;
      total = true;
    } else if (key == "MemFree") {
      m.free_kib = v;
    } else if (key == "MemAvailable") {
      m.available_kib = v;
    }
  }
  if (!total) return Err(Status::Invalid("no MemTotal in meminfo"));
  return m;
}

std::string ParseOsRelease(const std::string& text) {
  std::string pretty, name;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq), value = Trim(line.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    if (key == "PRETTY_NAME") pretty = value;
    if (key == "NAME") name = value;
  }
  if (!pretty.empty()) return pretty;
  if (!name.empty()) return name;
  return "Linux";
}

static std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<HostInfo> ReadHostInfo(const std::string& disk_path, const std::string& hostname) {
  HostInfo h;
  h.hostname = hostname;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  h.cpus = n > 0 ? static_cast<int>(n) : 1;
  auto mem = ParseMeminfo(ReadFile("/proc/meminfo"));
  if (!mem) return Err(mem.error());
  h.mem_total_mib = mem->total_kib / 1024;
  h.mem_free_mib = mem->free_kib / 1024;
  h.mem_available_mib = mem->available_kib / 1024;
  struct statvfs vfs{};
  if (statvfs(disk_path.c_str(), &vfs) != 0) {
    return Err(Status::Internal("statvfs " + disk_path + ": " + std::strerror(errno)));
  }
  constexpr int64_t kGiB = int64_t{1} << 30;
  h.disk_total_gib = static_cast<int64_t>(vfs.f_blocks) * static_cast<int64_t>(vfs.f_frsize) / kGiB;
  h.disk_free_gib = static_cast<int64_t>(vfs.f_bavail) * static_cast<int64_t>(vfs.f_frsize) / kGiB;
  struct utsname u{};
  if (uname(&u) == 0) {
    h.kernel_version = u.release;
    h.architecture = u.machine;
    h.os_type = ToLower(u.sysname);
  }
  h.os = ParseOsRelease(ReadFile("/etc/os-release"));
  return h;
}

}  // namespace zunvm
