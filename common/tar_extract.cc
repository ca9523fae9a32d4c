#include "common/tar_extract.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/fs_at.h"

namespace zunvm::tarx {

using fsat::ClearWay;
using fsat::JoinPath;
using fsat::SplitRelative;
using fsat::UniqueFd;
using fsat::WalkDirs;

ArchiveReader NewTarReader() {
  ArchiveReader a(archive_read_new());
  if (!a) return nullptr;
  archive_read_support_format_tar(a.get());
  archive_read_support_format_empty(a.get());
  archive_read_support_filter_gzip(a.get());
  return a;
}

ArchiveReader OpenTarMemory(const std::string& data, std::string* err) {
  ArchiveReader a = NewTarReader();
  if (!a) {
    *err = "archive_read_new failed";
    return nullptr;
  }
  if (archive_read_open_memory(a.get(), data.data(), data.size()) != ARCHIVE_OK) {
    *err = ArchiveError(a.get());
    return nullptr;
  }
  return a;
}

void EntryTimes(archive_entry* e, timespec t[2]) {
  t[1] = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
  t[0] = archive_entry_atime_is_set(e) ? timespec{archive_entry_atime(e), archive_entry_atime_nsec(e)} : t[1];
}

std::string ArchiveError(archive* a) {
  const char* s = a ? archive_error_string(a) : nullptr;
  return s ? s : "unknown error";
}

Status FromErrno(const std::string& what, int e) {
  if (e == ENOENT || e == ENOTDIR) return Status::NotFound(what + ": no such file or directory");
  if (e == EXDEV) return Status(Code::kForbidden, what + ": leads outside the root", "Forbidden");
  if (e == ELOOP) return Status::Invalid(what + ": too many levels of symbolic links");
  return Status::Internal(what + ": " + std::strerror(e));
}

std::string TarExtractor::What(const std::vector<std::string>& parts) const {
  return prefix_ + (parts.empty() ? std::string(".") : JoinPath(parts));
}

Status TarExtractor::Meta(int rc, const std::string& what) const {
  if (rc == 0 || !rules_.strict_metadata) return Status::Ok();
  return FromErrno(what, errno);
}

Status TarExtractor::Write(archive_entry* e, const std::vector<std::string>& parts) {
  const std::string what = What(parts);
  const mode_t type = archive_entry_filetype(e);
  if (parts.empty()) {  // "." : the root's own metadata
    if (type != AE_IFDIR) return Status::Invalid(what + ": the root must be a directory");
    return SetDirMeta(root_, parts, e, what);
  }
  const char* hardlink = archive_entry_hardlink(e);
  const bool device = type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO;
  if (!hardlink && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && !(rules_.allow_devices && device)) {
    return Status::Ok();  // sockets, and devices/fifos when not allowed: skipped
  }
  auto parent = WalkDirs(root_, parts, parts.size() - 1, true, what);
  if (!parent) return parent.error();
  const int pfd = parent->get();
  const std::string& base = parts.back();
  if (hardlink) return HardLink(parts, hardlink, pfd, what);

  const mode_t perm = archive_entry_perm(e) & 07777;
  const uid_t uid = static_cast<uid_t>(archive_entry_uid(e));
  const gid_t gid = static_cast<gid_t>(archive_entry_gid(e));
  timespec times[2];
  EntryTimes(e, times);
  switch (type) {
    case AE_IFDIR: {
      ZUNVM_RETURN_IF_ERROR(ClearWay(pfd, base, true, rules_.keep_dirs, what));
      if (::mkdirat(pfd, base.c_str(), 0700) != 0 && errno != EEXIST) return FromErrno(what, errno);
      UniqueFd d(::openat(pfd, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (d.get() < 0) return FromErrno(what, errno);
      return SetDirMeta(d.get(), parts, e, what);
    }
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      if (!target || !*target) return Status::Invalid(what + ": symlink without a target");
      ZUNVM_RETURN_IF_ERROR(ClearWay(pfd, base, false, rules_.keep_dirs, what));
      if (::symlinkat(target, pfd, base.c_str()) != 0) return FromErrno(what, errno);
      ZUNVM_RETURN_IF_ERROR(Meta(::fchownat(pfd, base.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW), what));
      return Meta(::utimensat(pfd, base.c_str(), times, AT_SYMLINK_NOFOLLOW), what);
    }
    case AE_IFREG:
      return RegularFile(e, pfd, base, what);
    default: {  // devices and fifos, allowed
      ZUNVM_RETURN_IF_ERROR(ClearWay(pfd, base, false, rules_.keep_dirs, what));
      if (::mknodat(pfd, base.c_str(), type | perm, archive_entry_rdev(e)) != 0) return FromErrno(what, errno);
      ZUNVM_RETURN_IF_ERROR(Meta(::fchownat(pfd, base.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW), what));
      // The node was just made by us, so there is no symlink for fchmodat to follow.
      ZUNVM_RETURN_IF_ERROR(Meta(::fchmodat(pfd, base.c_str(), perm, 0), what));
      return Meta(::utimensat(pfd, base.c_str(), times, AT_SYMLINK_NOFOLLOW), what);
    }
  }
}

void TarExtractor::Finish() {
  for (const auto& d : dir_times_) {
    auto fd = WalkDirs(root_, d.parts, d.parts.size(), false, "");
    if (fd) (void)::futimens(fd->get(), d.times);
  }
  dir_times_.clear();
}

// Owner and mode now (chown before chmod: chown clears setuid bits), times at Finish().
Status TarExtractor::SetDirMeta(int fd, const std::vector<std::string>& parts, archive_entry* e,
                                const std::string& what) {
  ZUNVM_RETURN_IF_ERROR(
      Meta(::fchown(fd, static_cast<uid_t>(archive_entry_uid(e)), static_cast<gid_t>(archive_entry_gid(e))), what));
  ZUNVM_RETURN_IF_ERROR(Meta(::fchmod(fd, archive_entry_perm(e) & 07777), what));
  DirTimes d{parts, {}};
  EntryTimes(e, d.times);
  dir_times_.push_back(std::move(d));
  return Status::Ok();
}

Status TarExtractor::HardLink(const std::vector<std::string>& parts, const char* target, int pfd,
                              const std::string& what) {
  auto tparts = SplitRelative(target);
  if (!tparts || tparts->empty()) return Status::Invalid(what + ": hard link target " + target + " leaves the root");
  if (*tparts == parts) return Status::Ok();  // a link to itself
  auto tdir = WalkDirs(root_, *tparts, tparts->size() - 1, false, what);
  if (!tdir && tdir.error().code() == Code::kNotFound) {
    return Status::Invalid(what + ": hard link target " + target + " missing");
  }
  if (!tdir) return tdir.error();
  const char* tbase = tparts->back().c_str();
  struct stat st{};
  if (::fstatat(tdir->get(), tbase, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode)) {
    return Status::Invalid(what + ": hard link target " + target + " missing or a directory");
  }
  ZUNVM_RETURN_IF_ERROR(ClearWay(pfd, parts.back(), false, rules_.keep_dirs, what));
  // flags 0: a symlink target is linked itself, never followed.
  if (::linkat(tdir->get(), tbase, pfd, parts.back().c_str(), 0) != 0) return FromErrno(what, errno);
  return Status::Ok();
}

Status TarExtractor::RegularFile(archive_entry* e, int pfd, const std::string& base, const std::string& what) {
  const int64_t size = archive_entry_size(e);
  if (size < 0) return Status::Invalid(what + ": negative size");
  if (size > rules_.max_bytes - bytes_) return TooLarge();
  ZUNVM_RETURN_IF_ERROR(ClearWay(pfd, base, false, rules_.keep_dirs, what));
  UniqueFd f(::openat(pfd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (f.get() < 0) return FromErrno(what, errno);
  const void* buf;
  size_t len;
  la_int64_t offset;
  for (;;) {
    int r = archive_read_data_block(a_, &buf, &len, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return Status::Invalid(what + ": corrupt archive: " + ArchiveError(a_));
    bytes_ += static_cast<int64_t>(len);
    if (bytes_ > rules_.max_bytes) return TooLarge();
    for (size_t done = 0; done < len;) {  // short writes and EINTR retried
      ssize_t w = ::pwrite(f.get(), static_cast<const char*>(buf) + done, len - done, offset + static_cast<off_t>(done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return FromErrno(what, w < 0 ? errno : EIO);
      done += static_cast<size_t>(w);
    }
  }
  timespec times[2];
  EntryTimes(e, times);
  // A sparse file's trailing hole; never optional, or the file would be short.
  if (::ftruncate(f.get(), size) != 0) return FromErrno(what, errno);
  ZUNVM_RETURN_IF_ERROR(
      Meta(::fchown(f.get(), static_cast<uid_t>(archive_entry_uid(e)), static_cast<gid_t>(archive_entry_gid(e))), what));
  ZUNVM_RETURN_IF_ERROR(Meta(::fchmod(f.get(), archive_entry_perm(e) & 07777), what));
  return Meta(::futimens(f.get(), times), what);
}

Status TarExtractor::TooLarge() const {
  return Status(Code::kPayloadTooLarge,
                "more than " + std::to_string(rules_.max_bytes) + " bytes of file data");
}

}  // namespace zunvm::tarx
