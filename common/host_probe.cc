#include "common/host_probe.h"

#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <vector>


namespace zunvm {

namespace {

// `path`'s existing ancestors, from / down, and `path` itself when it is a directory.
std::vector<std::string> ExistingDirsDown(const std::string& path) {
  std::vector<std::string> dirs;
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  std::filesystem::path cur = p.root_path();
  if (cur.empty()) return dirs;
  dirs.push_back(cur.string());
  for (const auto& part : p.relative_path()) {
    if (part.empty()) continue;
    cur /= part;
    struct stat st{};
    if (::stat(cur.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) break;
    dirs.push_back(cur.string());
  }
  return dirs;
}

std::string Describe(const std::string& dir) {
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0) return dir;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  std::string owner = ::getpwuid_r(st.st_uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr
                          ? pw.pw_name
                          : std::to_string(st.st_uid);
  return dir + " (mode " + mode + ", owner " + owner + ")";
}

}  // namespace

Status ReachableBy(const std::string& path, const std::string& user) {
  if (path.empty() || path[0] != '/') return Status::Invalid("not an absolute path: " + path);
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return Status::NotFound("no user " + user + " on this host");
  }
  int ngroups = 64;
  std::vector<gid_t> groups(ngroups);
  if (::getgrouplist(user.c_str(), pw.pw_gid, groups.data(), &ngroups) < 0) {
    groups.resize(ngroups);
    if (::getgrouplist(user.c_str(), pw.pw_gid, groups.data(), &ngroups) < 0) ngroups = 0;
  }
  groups.resize(ngroups);
  std::vector<std::string> dirs = ExistingDirsDown(path);
  std::string self = std::filesystem::path(path).lexically_normal().string();
  if (self.size() > 1 && self.back() == '/') self.pop_back();
  if (!dirs.empty() && dirs.back() == self) dirs.pop_back();
  // The child takes the user's identity and reports through its exit code the index of the
  // first directory it cannot search (0 = all passed; 255 = could not become the user).
  pid_t pid = ::fork();
  if (pid < 0) return Status::Internal("fork failed");
  if (pid == 0) {
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(pw.pw_gid) != 0 || ::setuid(pw.pw_uid) != 0) {
      ::_exit(255);
    }
    for (size_t i = 0; i < dirs.size() && i < 250; ++i) {
      if (::access(dirs[i].c_str(), X_OK) != 0) ::_exit(static_cast<int>(i) + 1);
    }
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) == 255) {
    return Status::Internal("could not check " + path + " as user " + user);
  }
  int failed = WEXITSTATUS(status);
  if (failed == 0) return Status::Ok();
  return Status(Code::kForbidden, "user " + user + " cannot reach " + path + ": it may not search " +
                                      Describe(dirs[static_cast<size_t>(failed) - 1]));
}

Result<uint64_t> FreeBytes(const std::string& path) {
  std::vector<std::string> dirs = ExistingDirsDown(path);
  if (dirs.empty()) return Err(Status::Invalid("not an absolute path: " + path));
  struct statvfs sv{};
  if (::statvfs(dirs.back().c_str(), &sv) != 0) return Err(Status::Internal("statvfs " + dirs.back() + " failed"));
  return static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
}

std::string CgroupLayout(const std::string& root) {
  constexpr long kCgroup2Magic = 0x63677270;
  struct statfs fs{};
  if (::statfs(root.c_str(), &fs) == 0 && static_cast<long>(fs.f_type) == kCgroup2Magic) return "v2";
  const std::string unified = root + "/unified";
  if (::statfs(unified.c_str(), &fs) == 0 && static_cast<long>(fs.f_type) == kCgroup2Magic) return "hybrid";
  return "v1";
}

FileLimit OpenFileLimit() {
  struct rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return {};
  return {static_cast<uint64_t>(rl.rlim_cur), static_cast<uint64_t>(rl.rlim_max)};
}

}  // namespace zunvm
