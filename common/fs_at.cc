#include "common/fs_at.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace zunvm::fsat {

namespace {

constexpr int kMaxDepth = 512;

// Internal, or NoSpace for a full filesystem (a mkdir, say).
Status Sys(const std::string& what, int e) { return WriteError(what, e); }

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<std::vector<std::string>> SplitRelative(const char* name) {
  if (!name || name[0] == '/') return std::nullopt;
  std::vector<std::string> parts;
  std::string p = name;
  for (size_t i = 0; i <= p.size();) {
    size_t j = std::min(p.find('/', i), p.size());
    std::string c = p.substr(i, j - i);
    if (c == "..") return std::nullopt;
    if (!c.empty() && c != ".") parts.push_back(std::move(c));
    i = j + 1;
  }
  return parts;
}

std::string JoinPath(const std::vector<std::string>& parts, size_t n) {
  std::string s;
  for (size_t i = 0; i < n && i < parts.size(); ++i) s += (i ? "/" : "") + parts[i];
  return s;
}

Result<UniqueFd> WalkDirs(int base, const std::vector<std::string>& parts, size_t count, bool create,
                          const std::string& what) {
  UniqueFd cur(::fcntl(base, F_DUPFD_CLOEXEC, 0));
  if (cur.get() < 0) return Err(Sys(what, errno));
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  for (size_t i = 0; i < count && i < parts.size(); ++i) {
    const char* c = parts[i].c_str();
    int fd = ::openat(cur.get(), c, kFlags);
    if (fd < 0 && errno == ENOENT && create) {
      if (::mkdirat(cur.get(), c, 0755) != 0 && errno != EEXIST) return Err(Sys(what, errno));
      fd = ::openat(cur.get(), c, kFlags);
    }
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) {
      return Err(Status::Invalid(what + ": refusing to go through a symlink or a non-directory"));
    }
    if (fd < 0 && errno == ENOENT) return Err(Status::NotFound(what + ": no such directory"));
    if (fd < 0) return Err(Sys(what, errno));
    cur = UniqueFd(fd);
  }
  return cur;
}

Result<std::vector<std::string>> ListDir(int dirfd, const std::string& what) {
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  DIR* dir = dup >= 0 ? ::fdopendir(dup) : nullptr;
  if (!dir) {
    int e = errno;
    if (dup >= 0) ::close(dup);
    return Err(Sys(what, e));
  }
  ::rewinddir(dir);  // the dup shares its offset with `dirfd`
  std::vector<std::string> names;
  while (dirent* de = ::readdir(dir)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

Status RemoveAt(int dirfd, const std::string& name, const std::string& what, int depth) {
  if (depth > kMaxDepth) return Status::Invalid(what + ": tree too deep to remove");
  struct stat st{};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status::Ok() : Sys(what, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    UniqueFd d(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (d.get() < 0) return Sys(what, errno);
    auto names = ListDir(d.get(), what);
    if (!names) return names.error();
    for (const auto& n : *names) ZUNVM_RETURN_IF_ERROR(RemoveAt(d.get(), n, what, depth + 1));
  }
  if (::unlinkat(dirfd, name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT) {
    return Sys(what, errno);
  }
  return Status::Ok();
}

Status ClearWay(int dirfd, const std::string& name, bool new_is_dir, bool keep_dirs, const std::string& what) {
  struct stat st{};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status::Ok() : Sys(what, errno);
  }
  if (S_ISDIR(st.st_mode) && new_is_dir) return Status::Ok();
  if (S_ISDIR(st.st_mode) && keep_dirs) return Status::Invalid(what + ": would replace a directory");
  return RemoveAt(dirfd, name, what);
}

}  // namespace zunvm::fsat
