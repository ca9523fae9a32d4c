#include "common/root_files.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "common/tar_writer.h"
#include "common/fs_at.h"
#include "common/tar_extract.h"

namespace zunvm::rootfiles {

namespace {

using fsat::JoinPath;
using fsat::SplitRelative;
using fsat::UniqueFd;
using tarx::FromErrno;

constexpr int kMaxSymlinks = 40;
constexpr int64_t kMaxExtractBytes = int64_t{1} << 30;
constexpr int kMaxEntries = 200000;

Status Forbidden(const std::string& m) { return Status(Code::kForbidden, m, "Forbidden"); }

// openat2 confined to `root` (the container's "/"); never follows magic links (/proc/*/fd).
int OpenInRoot(int root, const std::string& rel, int flags, mode_t mode = 0) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, root, rel.empty() ? "." : rel.c_str(), &how, sizeof how));
}

std::vector<std::string> SplitPath(const std::string& p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    if (j > i) out.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool IsPseudoFs(int fd) {
  struct statfs sf{};
  if (::fstatfs(fd, &sf) != 0) return false;
  auto t = static_cast<unsigned long>(sf.f_type);
  return t == PROC_SUPER_MAGIC || t == SYSFS_MAGIC || t == CGROUP2_SUPER_MAGIC ||
         t == DEVPTS_SUPER_MAGIC || t == DEBUGFS_MAGIC || t == SECURITYFS_MAGIC;
}

// Archives the tree under the open directory/file. `dirfd`+`name` name the object itself
// (opened without following), `arcname` is its name in the archive.
class TreeArchiver {
 public:
  explicit TreeArchiver(TarWriter& w) : w_(w) {}

  Status Add(int dirfd, const std::string& name, const std::string& arcname, int depth) {
    if (depth > 256) return Status::Invalid("directory tree too deep");
    struct stat st{};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return FromErrno(arcname, errno);
    }
    TarEntry e;
    e.name = arcname;
    e.mode = st.st_mode & 07777;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.mtime = st.st_mtime;
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      if (auto it = links_.find(key); it != links_.end()) {
        e.type = TarEntry::kHardLink;
        e.link = it->second;
        return w_.Add(e, {});
      }
      links_[key] = arcname;
    }
    if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t n = ::readlinkat(dirfd, name.c_str(), buf, sizeof buf);
      if (n < 0) return FromErrno(arcname, errno);
      e.type = TarEntry::kSymlink;
      e.link.assign(buf, static_cast<size_t>(n));
      return w_.Add(e, {});
    }
    if (S_ISREG(st.st_mode)) {
      UniqueFd f(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
      if (f.get() < 0) return FromErrno(arcname, errno);
      std::string data;
      char buf[65536];
      for (;;) {
        ssize_t n = ::read(f.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return FromErrno(arcname, errno);
        if (n == 0) break;
        data.append(buf, static_cast<size_t>(n));
        if (data.size() + w_.size() > w_.cap()) {
          return Status(Code::kPayloadTooLarge, "the archive would exceed " +
                                                    std::to_string(w_.cap() >> 20) + " MiB");
        }
      }
      e.type = TarEntry::kFile;
      return w_.Add(e, data);
    }
    if (S_ISDIR(st.st_mode)) {
      e.type = TarEntry::kDir;
      ZUNVM_RETURN_IF_ERROR(w_.Add(e, {}));
      UniqueFd d(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (d.get() < 0) return FromErrno(arcname, errno);
      if (IsPseudoFs(d.get())) return Status::Ok();  // /proc, /sys...: the mount point only
      auto names = fsat::ListDir(d.get(), arcname);
      if (!names) return names.error();
      for (const auto& n : *names) {
        ZUNVM_RETURN_IF_ERROR(Add(d.get(), n, arcname + "/" + n, depth + 1));
      }
      return Status::Ok();
    }
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
      e.type = S_ISCHR(st.st_mode) ? TarEntry::kChar : S_ISBLK(st.st_mode) ? TarEntry::kBlock : TarEntry::kFifo;
      e.rdev = st.st_rdev;
      return w_.Add(e, {});
    }
    return Status::Ok();  // sockets are not archived
  }

 private:
  TarWriter& w_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

}  // namespace

Result<std::string> ResolveInRoot(int root, const std::string& path, bool follow_last) {
  if (path.empty() || path[0] != '/') return Err(Status::Invalid("path must be absolute: " + path));
  if (path.find('\0') != std::string::npos || path.size() > 4096) return Err(Status::Invalid("bad path"));
  std::deque<std::pair<std::string, bool>> todo;  // component, came from a symlink target
  for (auto& c : SplitPath(path)) todo.emplace_back(c, false);
  std::vector<std::string> parts;
  int links = 0;
  while (!todo.empty()) {
    auto [c, from_link] = todo.front();
    todo.pop_front();
    if (c == ".") continue;
    if (c == "..") {
      if (parts.empty()) {
        if (from_link) return Err(Forbidden(path + ": a symlink leads outside the container root"));
        continue;  // "/.." is "/", as in the container itself
      }
      parts.pop_back();
      continue;
    }
    parts.push_back(c);
    std::string cand = JoinPath(parts);
    UniqueFd fd(OpenInRoot(root, cand, O_PATH | O_NOFOLLOW));
    if (fd.get() < 0) return Err(FromErrno(path, errno));
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0) return Err(FromErrno(path, errno));
    bool last = todo.empty();
    if (S_ISLNK(st.st_mode) && (!last || follow_last)) {
      if (++links > kMaxSymlinks) return Err(Status::Invalid(path + ": too many levels of symbolic links"));
      char buf[4096];
      ssize_t n = ::readlinkat(fd.get(), "", buf, sizeof buf);
      if (n <= 0) return Err(FromErrno(path, n < 0 ? errno : ENOENT));
      std::string target(buf, static_cast<size_t>(n));
      parts.pop_back();
      if (target[0] == '/') parts.clear();
      auto tparts = SplitPath(target);
      for (auto it = tparts.rbegin(); it != tparts.rend(); ++it) todo.emplace_front(*it, true);
      continue;
    }
    if (!last && !S_ISDIR(st.st_mode)) return Err(Status::NotFound(path + ": not a directory"));
  }
  return JoinPath(parts);
}

Result<std::string> MakeDirInRoot(int root, const std::string& path) {
  if (path.empty() || path[0] != '/') return Err(Status::Invalid("path must be absolute: " + path));
  std::string prefix;
  for (const auto& c : SplitPath(path)) {
    std::string parent = prefix.empty() ? "/" : prefix;
    prefix += "/" + c;
    auto rel = ResolveInRoot(root, prefix, true);
    if (rel || rel.error().code() != Code::kNotFound) continue;
    auto prel = ResolveInRoot(root, parent, true);
    if (!prel) return Err(prel.error());
    UniqueFd pfd(OpenInRoot(root, *prel, O_RDONLY | O_DIRECTORY));
    if (pfd.get() < 0) return Err(Status::Invalid(parent + " is not a directory"));
    if (::mkdirat(pfd.get(), c.c_str(), 0755) != 0 && errno != EEXIST) return Err(FromErrno(prefix, errno));
  }
  auto rel = ResolveInRoot(root, path, true);
  if (!rel) return Err(rel.error());
  UniqueFd fd(OpenInRoot(root, *rel, O_RDONLY | O_DIRECTORY));
  if (fd.get() < 0) return Err(Status::Invalid(path + " is not a directory in the container"));
  return rel;
}

Status WriteFileInRoot(int root, const std::string& path, const std::string& content) {
  auto parts = SplitPath(path);
  if (parts.empty() || path[0] != '/') return Status::Invalid("a file needs an absolute path: " + path);
  std::string name = parts.back();
  parts.pop_back();
  auto dir = MakeDirInRoot(root, "/" + JoinPath(parts));
  if (!dir) return dir.error();
  UniqueFd pfd(OpenInRoot(root, *dir, O_RDONLY | O_DIRECTORY));
  if (pfd.get() < 0) return FromErrno(path, errno);
  // O_NONBLOCK: a FIFO the container left there must not hang the agent; only a regular
  // file is written (truncated only once it is known to be one).
  UniqueFd fd(::openat(pfd.get(), name.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644));
  if (fd.get() < 0) {
    if (errno == ELOOP || errno == EISDIR || errno == ENXIO) {
      return Status::Invalid(path + " is a symlink, a directory or a FIFO in the container");
    }
    return FromErrno(path, errno);
  }
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return Status::Invalid(path + " is not a regular file in the container");
  if (::ftruncate(fd.get(), 0) != 0 || ::fcntl(fd.get(), F_SETFL, 0) != 0) return FromErrno(path, errno);
  for (size_t off = 0; off < content.size();) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return FromErrno(path, errno);
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<CopyOutResult> CopyOut(int root, const std::string& path) {
  auto rel = ResolveInRoot(root, path, false);
  if (!rel) return Err(rel.error());
  std::vector<std::string> parts = SplitPath(*rel);
  std::string name = parts.empty() ? "." : parts.back();
  std::string parent = parts.empty() ? "" : JoinPath(parts, parts.size() - 1);
  UniqueFd pfd(OpenInRoot(root, parent, O_RDONLY | O_DIRECTORY));
  if (pfd.get() < 0) return Err(FromErrno(path, errno));
  struct stat st{};
  if (::fstatat(pfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Err(FromErrno(path, errno));
  CopyOutResult out;
  out.stat = {name, static_cast<int64_t>(st.st_size), static_cast<uint32_t>(st.st_mode),
              static_cast<int64_t>(st.st_mtime), ""};
  if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    ssize_t n = ::readlinkat(pfd.get(), name.c_str(), buf, sizeof buf);
    if (n > 0) out.stat.link_target = std::string(buf, static_cast<size_t>(n));
  }
  TarWriter w(kMaxCopyBytes);
  TreeArchiver t(w);
  ZUNVM_RETURN_IF_ERROR(t.Add(pfd.get(), name, name, 0));
  out.tar = w.Finish();
  return out;
}

Status CopyIn(int root, const std::string& dir, const std::string& tar) {
  auto rel = ResolveInRoot(root, dir, true);
  if (!rel) return rel.error();
  UniqueFd dest(OpenInRoot(root, *rel, O_RDONLY | O_DIRECTORY));
  if (dest.get() < 0) {
    if (errno == ENOTDIR) return Status::Invalid(dir + " is not a directory");
    return FromErrno(dir, errno);
  }
  // First pass: every name is checked before anything is written.
  std::string err;
  auto a = tarx::OpenTarMemory(tar, &err);
  if (!a) return Status::Invalid("not a tar archive: " + err);
  std::set<std::string> symlinks;
  int64_t total = 0;
  int entries = 0;
  archive_entry* e = nullptr;
  for (;;) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return Status::Invalid(std::string("corrupt archive: ") + archive_error_string(a.get()));
    }
    const char* name = archive_entry_pathname(e);
    auto parts = SplitRelative(name);
    if (!parts) return Status::Invalid(std::string("archive entry ") + (name ? name : "?") + " leaves the destination");
    for (size_t i = 1; i < parts->size(); ++i) {
      if (symlinks.count(JoinPath(*parts, i))) {
        return Status::Invalid(std::string("archive entry ") + name + " would be written through a symlink");
      }
    }
    if (const char* hl = archive_entry_hardlink(e); hl && !SplitRelative(hl)) {
      return Status::Invalid(std::string("archive entry ") + name + ": hard link target outside the archive");
    }
    if (archive_entry_filetype(e) == AE_IFLNK) symlinks.insert(JoinPath(*parts));
    else symlinks.erase(JoinPath(*parts));
    total += archive_entry_size(e);
    if (total > kMaxExtractBytes || ++entries > kMaxEntries) {
      return Status(Code::kPayloadTooLarge, "the archive is larger than the extraction limit");
    }
  }
  a = tarx::OpenTarMemory(tar, &err);
  if (!a) return Status::Invalid("not a tar archive: " + err);
  // docker cp: a directory is never replaced by a file; owners and modes kept where possible.
  tarx::TarExtractor x(a.get(), dest.get(), tarx::ExtractRules{true, false, false, kMaxExtractBytes}, "");
  for (;;) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return Status::Invalid(std::string("corrupt archive: ") + archive_error_string(a.get()));
    }
    auto parts = SplitRelative(archive_entry_pathname(e));
    if (!parts) return Status::Invalid("bad archive entry");
    if (parts->empty()) continue;  // "." is the destination itself
    ZUNVM_RETURN_IF_ERROR(x.Write(e, *parts));
  }
  x.Finish();
  return Status::Ok();
}

}  // namespace zunvm::rootfiles
