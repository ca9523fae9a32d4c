// TarExtractor: writes tar entries into a directory tree that is not trusted, confined to it.
// The one routine behind both trees zunvm writes from archives it did not make: image layers on
// the host (image/layer_unpack.cc, which adds the whiteouts) and `docker cp`-style copies into
// a container in the guest agent (common/root_files.cc). Every path is walked component by
// component with openat(O_NOFOLLOW) from the root fd (common/fs_at.h): an entry can never be
// written through a symlink or outside the root, whatever the archive holds.
//
// Errors are values, each message starting with `what_prefix` + the entry's name:
// InvalidArgument (a name or link target that leaves the root, corrupt data, a symlink or
// non-directory where a directory must be), NotFound (ENOENT/ENOTDIR), PayloadTooLarge (more
// than `max_bytes` of file data), Internal (other errno). Thread safety: one thread per
// extractor; the archive and the root fd must outlive it.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <time.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/libarchive_util.h"
#include "common/status.h"

namespace zunvm::tarx {

struct ExtractRules {
  // A directory in the way of a non-directory is an error rather than removed (docker cp).
  bool keep_dirs = false;
  // Character and block devices and fifos are made (root only); otherwise skipped.
  bool allow_devices = false;
  // A failure to set owner, mode or times is an error (image layers must be exact); otherwise
  // it is ignored (a copy into a container keeps what it can, as docker cp).
  bool strict_metadata = true;
  // File data across all entries.
  int64_t max_bytes = int64_t{1} << 30;
};

// A tar reader (plain, gzip or empty) not yet opened, for callers that add filters (the image
// side adds zstd; the static agent does not link libzstd); null when libarchive cannot
// allocate. OpenTarMemory opens one over `data`, which must outlive it; null with the reason
// in *err.
ArchiveReader NewTarReader();
ArchiveReader OpenTarMemory(const std::string& data, std::string* err);

// The entry's times: {atime (mtime when unset), mtime}, with nanoseconds.
void EntryTimes(archive_entry* e, timespec t[2]);
// The message of the archive's last error ("unknown error" when it has none).
std::string ArchiveError(archive* a);
// errno as a Status (see the header comment), message `what`: strerror.
Status FromErrno(const std::string& what, int e);

class TarExtractor {
 public:
  TarExtractor(archive* a, int root_fd, ExtractRules rules, std::string what_prefix)
      : a_(a), root_(root_fd), rules_(rules), prefix_(std::move(what_prefix)) {}

  // Writes the entry whose header was just read at `parts` (its name split by
  // fsat::SplitRelative; empty = the root itself, whose owner, mode and times are set).
  // Sockets are skipped. Missing parent directories are made (0755).
  Status Write(archive_entry* e, const std::vector<std::string>& parts);

  // Sets the times of the directories written, now that their contents are in place (a
  // directory since replaced or removed is skipped). Call once after the last entry.
  void Finish();

  int64_t bytes() const { return bytes_; }
  std::string What(const std::vector<std::string>& parts) const;

 private:
  struct DirTimes {
    std::vector<std::string> parts;
    timespec times[2];
  };

  Status Meta(int rc, const std::string& what) const;
  Status SetDirMeta(int fd, const std::vector<std::string>& parts, archive_entry* e, const std::string& what);
  Status HardLink(const std::vector<std::string>& parts, const char* target, int pfd, const std::string& what);
  Status RegularFile(archive_entry* e, int pfd, const std::string& base, const std::string& what);
  Status TooLarge() const;

  archive* a_;
  int root_;
  ExtractRules rules_;
  std::string prefix_;
  int64_t bytes_ = 0;
  std::vector<DirTimes> dir_times_;
};

}  // namespace zunvm::tarx
