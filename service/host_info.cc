#include "service/host_info.h"

#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "common/strings.h"

namespace zunvm {

namespace {

// "MemTotal:   16314204 kB" -> 16314204; nullopt when the value is not a number.
std::optional<int64_t> MeminfoValue(const std::string& rest) {
  std::string v = Trim(rest);
  if (v.size() > 3 && v.compare(v.size() - 3, 3, " kB") == 0) v = Trim(v.substr(0, v.size() - 3));
  auto n = ParseInt(v);
  if (!n || *n < 0) return std::nullopt;
  return *n;
}

// Removes one level of shell-style quotes ("x" or 'x') as os-release(5) allows.
std::string Unquote(std::string v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    v = v.substr(1, v.size() - 2);
  }
  return v;
}

// Whole file, or nullopt (errno then usually says why).
std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string MachineHostname() {
  char buf[HOST_NAME_MAX + 1] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

Status FillMemory(HostInfo& h) {
  auto mem = ReadMeminfo();
  if (!mem) return mem.error();
  h.mem_total_mib = mem->total_kib / 1024;
  h.mem_free_mib = mem->free_kib / 1024;
  h.mem_available_mib = mem->available_kib / 1024;
  return Status::Ok();
}

Status FillDisk(const std::string& disk_path, HostInfo& h) {
  struct statvfs vfs{};
  if (statvfs(disk_path.c_str(), &vfs) != 0) {
    return Status::Internal("cannot stat filesystem of " + disk_path + ": " +
                            std::strerror(errno));
  }
  constexpr uint64_t kGiB = uint64_t{1} << 30;
  uint64_t unit = vfs.f_frsize ? vfs.f_frsize : vfs.f_bsize;
  h.disk_total_gib = static_cast<int64_t>(uint64_t{vfs.f_blocks} * unit / kGiB);
  h.disk_free_gib = static_cast<int64_t>(uint64_t{vfs.f_bavail} * unit / kGiB);
  return Status::Ok();
}

void FillKernel(HostInfo& h) {
  h.os_type = "linux";
  struct utsname u{};
  if (uname(&u) != 0) return;  // cannot fail with a valid buffer; keep the figures empty
  h.kernel_version = u.release;
  h.architecture = u.machine;
  h.os_type = ToLower(u.sysname);
}

}  // namespace

Result<MemInfo> ParseMeminfo(const std::string& text) {
  MemInfo m;
  bool have_total = false, have_available = false;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    if (key != "MemTotal" && key != "MemFree" && key != "MemAvailable") continue;
    auto v = MeminfoValue(line.substr(colon + 1));
    if (!v) return Err(Status::Invalid("bad " + key + " line in meminfo: " + line));
    if (key == "MemTotal") {
      m.total_kib = *v;
      have_total = true;
    } else if (key == "MemFree") {
      m.free_kib = *v;
    } else {
      m.available_kib = *v;
      have_available = true;
    }
  }
  if (!have_total) return Err(Status::Invalid("no MemTotal in meminfo"));
  if (!have_available) m.available_kib = m.free_kib;
  return m;
}

std::string ParseOsRelease(const std::string& text) {
  std::string pretty, name;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos || line[0] == '#') continue;
    std::string key = Trim(line.substr(0, eq));
    std::string value = Unquote(Trim(line.substr(eq + 1)));
    if (key == "PRETTY_NAME") pretty = value;
    if (key == "NAME") name = value;
  }
  if (!pretty.empty()) return pretty;
  if (!name.empty()) return name;
  return "Linux";
}

Result<MemInfo> ReadMeminfo() {
  errno = 0;
  auto text = ReadSmallFile("/proc/meminfo");
  if (!text) {
    return Err(Status::Internal(std::string("cannot read /proc/meminfo: ") + std::strerror(errno ? errno : EIO)));
  }
  auto mem = ParseMeminfo(*text);
  if (!mem) return Err(Status::Internal("/proc/meminfo: " + mem.error().message()));
  return mem;
}

Result<HostInfo> ReadHostInfo(const std::string& disk_path, const std::string& hostname_override) {
  HostInfo h;
  h.hostname = hostname_override.empty() ? MachineHostname() : hostname_override;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  h.cpus = n > 0 && n <= INT_MAX ? static_cast<int>(n) : 1;
  ZUNVM_RETURN_IF_ERROR(FillMemory(h));
  ZUNVM_RETURN_IF_ERROR(FillDisk(disk_path, h));
  FillKernel(h);
  // os-release(5): /etc/os-release, else /usr/lib/os-release.
  auto os_release = ReadSmallFile("/etc/os-release");
  if (!os_release) os_release = ReadSmallFile("/usr/lib/os-release");
  h.os = ParseOsRelease(os_release.value_or(""));
  return h;
}

}  // namespace zunvm
