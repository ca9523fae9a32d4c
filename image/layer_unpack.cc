#include "image/layer_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/fs_at.h"

namespace zunvm::image {

namespace {

using fsat::ClearWay;
using fsat::JoinPath;
using fsat::ListDir;
using fsat::RemoveAt;
using fsat::SplitRelative;
using fsat::UniqueFd;
using fsat::WalkDirs;

// Deepest tree removed by a whiteout or an opaque marker (one open fd per level).
constexpr int kMaxDepth = 512;
constexpr char kWhPrefix[] = ".wh.";
constexpr char kWhMetaPrefix[] = ".wh..wh.";
constexpr char kWhOpaque[] = ".wh..wh..opq";

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

Status Sys(const std::string& what, int e) {
  return Status::Internal("layer entry " + what + ": " + std::strerror(e));
}
Status Bad(const std::string& what, const std::string& why) {
  return Status::Invalid("layer entry " + what + ": " + why);
}
std::string ArchiveError(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown error";
}
bool StartsWith(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

// Opaque directory: removes everything under the open directory `dirfd` (whose path is
// `rel`) that is not in `keep`, descending into the kept directories.
Status ClearLower(int dirfd, const std::string& rel, const std::unordered_set<std::string>& keep,
                  const std::string& what, int depth) {
  if (depth > kMaxDepth) return Bad(what, "tree too deep to clear");
  auto names = ListDir(dirfd, what);
  if (!names) return names.error();
  for (const auto& n : *names) {
    std::string child = rel.empty() ? n : rel + "/" + n;
    if (!keep.count(child)) {
      ZUNVM_RETURN_IF_ERROR(RemoveAt(dirfd, n, what, depth + 1));
      continue;
    }
    UniqueFd d(::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (d.get() >= 0) ZUNVM_RETURN_IF_ERROR(ClearLower(d.get(), child, keep, what, depth + 1));
  }
  return Status::Ok();
}

class Applier {
 public:
  Applier(archive* a, int root, const UnpackLimits& limits) : a_(a), root_(root), limits_(limits) {}

  // Applies the entry whose header was just read.
  Status Apply(archive_entry* e) {
    const char* name = archive_entry_pathname(e);
    const std::string what = name ? name : "(unnamed)";
    auto parts = SplitRelative(name);
    if (!parts) return Bad(what, "absolute name or '..' component");
    for (size_t i = 0; i + 1 < parts->size(); ++i) {
      if (StartsWith((*parts)[i], kWhPrefix)) return Bad(what, "whiteout name used as a directory");
    }
    if (parts->empty()) {  // "." : the root directory's own metadata
      if (archive_entry_filetype(e) != AE_IFDIR) return Bad(what, "the root must be a directory");
      return SetDirMeta(root_, *parts, e, what);
    }
    const std::string& base = parts->back();
    if (StartsWith(base, kWhPrefix)) return Whiteout(*parts, what);

    const mode_t perm = archive_entry_perm(e) & 07777;
    const uid_t uid = static_cast<uid_t>(archive_entry_uid(e));
    const gid_t gid = static_cast<gid_t>(archive_entry_gid(e));
    const mode_t type = archive_entry_filetype(e);
    const char* hardlink = archive_entry_hardlink(e);
    if (!hardlink && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK &&
        !(limits_.allow_devices && (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO))) {
      return Status::Ok();  // sockets, and devices/fifos when not allowed: skipped
    }
    auto parent = WalkDirs(root_, *parts, parts->size() - 1, true, what);
    if (!parent) return parent.error();
    const int pfd = parent->get();
    for (size_t i = 1; i <= parts->size(); ++i) keep_.insert(JoinPath(*parts, i));
    timespec times[2];
    Times(e, times);

    if (hardlink) return HardLink(*parts, hardlink, pfd, what);
    switch (type) {
      case AE_IFDIR: {
        ZUNVM_RETURN_IF_ERROR(ClearWay(pfd, base, true, false, what));
        if (::mkdirat(pfd, base.c_str(), 0700) != 0 && errno != EEXIST) return Sys(what, errno);
        UniqueFd d(::openat(pfd, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (d.get() < 0) return Sys(what, errno);
        return SetDirMeta(d.get(), *parts, e, what);
      }
      case AE_IFLNK: {
        const char* target = archive_entry_symlink(e);
        if (!target || !*target) return Bad(what, "symlink without a target");
        ZUNVM_RETURN_IF_ERROR(ClearWay(pfd, base, false, false, what));
        if (::symlinkat(target, pfd, base.c_str()) != 0) return Sys(what, errno);
        if (::fchownat(pfd, base.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0 ||
            ::utimensat(pfd, base.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
          return Sys(what, errno);
        }
        return Status::Ok();
      }
      case AE_IFREG:
        return RegularFile(e, pfd, base, what);
      default: {  // devices and fifos, allowed
        ZUNVM_RETURN_IF_ERROR(ClearWay(pfd, base, false, false, what));
        if (::mknodat(pfd, base.c_str(), type | perm, archive_entry_rdev(e)) != 0 ||
            ::fchownat(pfd, base.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0 ||
            // The node was just made by us, so there is no symlink for fchmodat to follow.
            ::fchmodat(pfd, base.c_str(), perm, 0) != 0 ||
            ::utimensat(pfd, base.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
          return Sys(what, errno);
        }
        return Status::Ok();
      }
    }
  }

  // Sets the times of the directories this layer created or merged, now that their contents
  // are in place. A directory since replaced or removed by this same layer is skipped.
  void Finish() {
    for (const auto& d : dir_times_) {
      auto fd = WalkDirs(root_, d.parts, d.parts.size(), false, "");
      if (fd) (void)::futimens(fd->get(), d.times);
    }
  }

  UnpackStats stats;

 private:
  struct DirTimes {
    std::vector<std::string> parts;
    timespec times[2];
  };

  static void Times(archive_entry* e, timespec t[2]) {
    t[1] = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
    t[0] = archive_entry_atime_is_set(e) ? timespec{archive_entry_atime(e), archive_entry_atime_nsec(e)} : t[1];
  }

  // Owner and mode now (chown before chmod: chown clears setuid bits), times at Finish().
  Status SetDirMeta(int fd, const std::vector<std::string>& parts, archive_entry* e, const std::string& what) {
    if (::fchown(fd, static_cast<uid_t>(archive_entry_uid(e)), static_cast<gid_t>(archive_entry_gid(e))) != 0 ||
        ::fchmod(fd, archive_entry_perm(e) & 07777) != 0) {
      return Sys(what, errno);
    }
    DirTimes d{parts, {}};
    Times(e, d.times);
    dir_times_.push_back(std::move(d));
    return Status::Ok();
  }

  Status Whiteout(const std::vector<std::string>& parts, const std::string& what) {
    const std::string& base = parts.back();
    const size_t n = parts.size() - 1;
    if (base == kWhOpaque) {
      auto dir = WalkDirs(root_, parts, n, true, what);
      if (!dir) return dir.error();
      for (size_t i = 1; i <= n; ++i) keep_.insert(JoinPath(parts, i));
      ++stats.whiteouts;
      return ClearLower(dir->get(), JoinPath(parts, n), keep_, what, 0);
    }
    if (StartsWith(base, kWhMetaPrefix)) return Status::Ok();  // aufs metadata
    const std::string victim = base.substr(std::strlen(kWhPrefix));
    if (victim.empty() || victim == "." || victim == "..") return Bad(what, "bad whiteout name");
    auto dir = WalkDirs(root_, parts, n, false, what);
    if (!dir && dir.error().code() == Code::kNotFound) return Status::Ok();  // nothing to hide
    if (!dir) return dir.error();
    ++stats.whiteouts;
    return RemoveAt(dir->get(), victim, what, 0);
  }

  Status HardLink(const std::vector<std::string>& parts, const char* target, int pfd, const std::string& what) {
    auto tparts = SplitRelative(target);
    if (!tparts || tparts->empty()) return Bad(what, std::string("hard link target ") + target + " leaves the root");
    if (*tparts == parts) return Status::Ok();  // a link to itself
    auto tdir = WalkDirs(root_, *tparts, tparts->size() - 1, false, what);
    if (!tdir && tdir.error().code() == Code::kNotFound) return Bad(what, std::string("hard link target ") + target + " missing");
    if (!tdir) return tdir.error();
    const char* tbase = tparts->back().c_str();
    struct stat st{};
    if (::fstatat(tdir->get(), tbase, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode)) {
      return Bad(what, std::string("hard link target ") + target + " missing or a directory");
    }
    ZUNVM_RETURN_IF_ERROR(ClearWay(pfd, parts.back(), false, false, what));
    // flags 0: a symlink target is linked itself, never followed.
    if (::linkat(tdir->get(), tbase, pfd, parts.back().c_str(), 0) != 0) return Sys(what, errno);
    return Status::Ok();
  }

  Status RegularFile(archive_entry* e, int pfd, const std::string& base, const std::string& what) {
    const int64_t size = archive_entry_size(e);
    if (size < 0) return Bad(what, "negative size");
    if (size > limits_.max_bytes - stats.bytes) return TooLarge();
    ZUNVM_RETURN_IF_ERROR(ClearWay(pfd, base, false, false, what));
    UniqueFd f(::openat(pfd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (f.get() < 0) return Sys(what, errno);
    const void* buf;
    size_t len;
    la_int64_t offset;
    for (;;) {
      int r = archive_read_data_block(a_, &buf, &len, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) return Bad(what, "corrupt layer: " + ArchiveError(a_));
      stats.bytes += static_cast<int64_t>(len);
      if (stats.bytes > limits_.max_bytes) return TooLarge();
      for (size_t done = 0; done < len;) {
        ssize_t w = ::pwrite(f.get(), static_cast<const char*>(buf) + done, len - done, offset + static_cast<off_t>(done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return Sys(what, w < 0 ? errno : EIO);
        done += static_cast<size_t>(w);
      }
    }
    timespec times[2];
    Times(e, times);
    if (::ftruncate(f.get(), size) != 0 ||  // a sparse file's trailing hole
        ::fchown(f.get(), static_cast<uid_t>(archive_entry_uid(e)), static_cast<gid_t>(archive_entry_gid(e))) != 0 ||
        ::fchmod(f.get(), archive_entry_perm(e) & 07777) != 0 || ::futimens(f.get(), times) != 0) {
      return Sys(what, errno);
    }
    return Status::Ok();
  }

  Status TooLarge() const {
    return Status(Code::kPayloadTooLarge,
                  "layer has more than " + std::to_string(limits_.max_bytes) + " bytes of file data");
  }

  archive* a_;
  int root_;
  const UnpackLimits& limits_;
  std::unordered_set<std::string> keep_;  // paths this layer made (with their parents)
  std::vector<DirTimes> dir_times_;
};

}  // namespace

Result<UnpackStats> ApplyLayer(int layer_fd, int root_fd, const UnpackLimits& limits) {
  std::unique_ptr<archive, ArchiveFree> a(archive_read_new());
  if (!a) return Err(Status::Internal("archive_read_new failed"));
  archive_read_support_format_tar(a.get());
  archive_read_support_format_empty(a.get());
  archive_read_support_filter_gzip(a.get());
  // Only the built-in decoder: without libzstd libarchive would run an external program.
  if (archive_libzstd_version() != nullptr) archive_read_support_filter_zstd(a.get());
  if (archive_read_open_fd(a.get(), layer_fd, 1 << 16) != ARCHIVE_OK) {
    return Err(Status::Invalid("layer is not a readable tar: " + ArchiveError(a.get())));
  }
  Applier applier(a.get(), root_fd, limits);
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return Err(Status::Invalid("corrupt layer: " + ArchiveError(a.get())));
    if (++applier.stats.entries > limits.max_entries) {
      return Err(Status(Code::kPayloadTooLarge,
                        "layer has more than " + std::to_string(limits.max_entries) + " entries"));
    }
    ZUNVM_RETURN_IF_ERROR(applier.Apply(e));
  }
  applier.Finish();
  return applier.stats;
}

}  // namespace zunvm::image
