// Copying files into and out of a container as tar, confined to the container's root.
//
// `root_fd` is a directory fd for the container's root (the agent opens /proc/<init>/root in a
// guest; the OCI driver its container's root directory on the host).
// Paths are container paths: absolute, resolved the way the container itself would resolve
// them (an absolute symlink starts again at the container root), except that a symlink whose
// target climbs above the root ("../../..") is refused with PermissionDenied rather than
// clamped: that is always an escape attempt or a broken image. Every open goes through
// openat2(RESOLVE_IN_ROOT), so even a symlink swapped in by a process in the container between
// check and use cannot lead outside the root.
//
// Extraction is stricter still: tar entry names must be relative with no "..", and nothing in
// an archive is written through a symlink (an existing one, or one the archive made): each
// entry's parent directories are walked with O_NOFOLLOW from the destination directory.
//
// Errors are values: NotFound (missing path), InvalidArgument (bad path, corrupt archive, bad
// entry), PermissionDenied (escape), PayloadTooLarge (over the size cap). Nothing throws.
// Thread safety: none needed (pure functions over fds).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace zunvm::rootfiles {

// The archive a copy_out produces can be at most this large (it is built in memory).
inline constexpr size_t kMaxCopyBytes = size_t{64} << 20;

// Resolves `path` inside the root; the last component is followed only if `follow_last`.
// Returns the canonical path relative to the root ("" is the root itself).
Result<std::string> ResolveInRoot(int root_fd, const std::string& path, bool follow_last);

// The directory `path` inside the root, made (0755, with its missing parents) when absent;
// resolved as ResolveInRoot does. Returns its canonical path relative to the root.
// InvalidArgument when something on the way is not a directory.
Result<std::string> MakeDirInRoot(int root_fd, const std::string& path);

// Writes `content` to the file `path` inside the root (made 0644 with its missing parents, or
// truncated). A symlink or a directory at `path` is refused (InvalidArgument).
Status WriteFileInRoot(int root_fd, const std::string& path, const std::string& content);

// What Docker's path stat reports of the copied path.
struct PathStat {
  std::string name;
  int64_t size = 0;
  uint32_t mode = 0;
  int64_t mtime = 0;  // seconds since the epoch
  std::string link_target;
};

struct CopyOutResult {
  std::string tar;
  PathStat stat;  // like Docker's path stat
};
// A tar of `path` whose top entry is its basename; a symlink as the last component is archived
// as the link itself (like `docker cp`).
Result<CopyOutResult> CopyOut(int root_fd, const std::string& path);

// Extracts `tar` (plain or gzip) into the existing directory `dir`. Owners are kept, device
// nodes and sockets skipped, hard links must point inside the archive's tree.
Status CopyIn(int root_fd, const std::string& dir, const std::string& tar);

}  // namespace zunvm::rootfiles
