// File operations relative to directory fds that never follow a symlink: the building blocks
// of every place that writes into a tree it does not trust (tar copies into a container in the
// agent, image layers on the host). Paths are split into components and walked one at a time
// with openat(O_NOFOLLOW), never resolved from "/".
//
// Errors are values: InvalidArgument (a symlink or non-directory where a directory must be),
// NotFound (a missing component when not creating), Internal (other errno, with its text);
// every message starts with the caller's `what`. Thread safety: none needed (no shared state).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace zunvm::fsat {

// An owned file descriptor, closed on destruction. Move-only.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  ~UniqueFd();
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

// A relative name split into components, "" and "." dropped; nullopt for a null or absolute
// name or one with a ".." component.
std::optional<std::vector<std::string>> SplitRelative(const char* name);
// The first `n` components joined with "/" ("" for none).
std::string JoinPath(const std::vector<std::string>& parts, size_t n);
inline std::string JoinPath(const std::vector<std::string>& parts) { return JoinPath(parts, parts.size()); }

// Opens the directory made of the first `count` components under `base`, creating missing
// ones (mode 0755) when `create`.
Result<UniqueFd> WalkDirs(int base, const std::vector<std::string>& parts, size_t count, bool create,
                          const std::string& what);
// The names in an open directory, without "." and "..".
Result<std::vector<std::string>> ListDir(int dirfd, const std::string& what);
// Removes `name` in `dirfd`, and everything under it if it is a directory (at most 512 levels);
// a symlink is removed itself. A missing name is fine.
Status RemoveAt(int dirfd, const std::string& name, const std::string& what, int depth = 0);
// Makes room for a new entry `name` in `dirfd`: whatever is there goes, except a directory when
// the new entry is a directory too (they merge). With `keep_dirs`, a directory in the way of a
// non-directory is InvalidArgument instead of being removed (`docker cp` semantics).
Status ClearWay(int dirfd, const std::string& name, bool new_is_dir, bool keep_dirs, const std::string& what);

}  // namespace zunvm::fsat
