// TarFs: the fake driver's in-memory container root filesystem (files, directories, symlinks)
// with Docker-style tar export/import through libarchive.
//
// Paths: every path argument is taken as absolute inside the root (a relative one is read
// from "/") and normalised ("/a/./b/" is "/a/b", ".." never leaves "/"). Symlinks are followed
// the way a chroot would: an absolute target starts again at this root, so no lookup can leave
// it. Lookups follow symlinks in every component; see each method for the last component.
//
// Errors are values: NotFound for a missing path, InvalidArgument for a wrong type, a refused
// archive entry or the size cap. Nothing throws.
//
// Thread safety: none; the owner (FakeDriver) serialises access. Copyable value type.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "driver/driver.h"

namespace zunvm {

class TarFs {
 public:
  enum class Type { kFile = 0, kDir = 1, kSymlink = 2 };
  struct Node {
    Type type = Type::kFile;
    std::string data;      // file content or symlink target
    uint32_t mode = 0644;  // permission bits only (no type bits)
    int64_t mtime = 0;     // seconds since the epoch
  };

  // Cap on the summed size of file contents and link targets.
  static constexpr int64_t kMaxBytes = int64_t{64} << 20;

  // A small root: /, /bin, /etc (hostname, hosts), /root, /tmp.
  explicit TarFs(const std::string& hostname = "fake");

  static std::string Normalize(const std::string& path);

  // The node at `path`, or nullptr. `follow_last`: a symlink as last component is followed.
  // The pointer is valid until the next mutation.
  const Node* Lookup(const std::string& path, bool follow_last = true) const;
  bool IsDir(const std::string& path) const;  // follows symlinks
  // Follows symlinks. NotFound if missing, InvalidArgument for a directory.
  Result<std::string> ReadFile(const std::string& path) const;
  // Creates or replaces (or appends to) a file; a symlink as last component is written
  // through. The parent must be an existing directory (NotFound otherwise).
  Status WriteFile(const std::string& path, const std::string& data, bool append);
  // Entry names of a directory, sorted (follows symlinks). NotFound / InvalidArgument.
  Result<std::vector<std::string>> List(const std::string& dir) const;
  // mkdir -p; InvalidArgument when an existing component is not a directory.
  Status MakeDirs(const std::string& path);
  int64_t TotalBytes() const;

  // Tar (pax/ustar) of `path` with its basename as the top entry, plus its stat. A symlink as
  // last component is archived as the link itself, like `docker cp`. NotFound if missing.
  Result<Archive> Export(const std::string& path) const;
  // Extracts a tar (optionally gzip/bzip2/xz compressed) into the existing directory `dir`
  // (NotFound if missing, InvalidArgument if not a directory). Every entry is checked before
  // anything is applied: absolute names, ".." components, writing through a symlink (one
  // already there or one from the archive), replacing a directory by a non-directory or the
  // reverse, a corrupt archive and the size cap are all InvalidArgument, and then the tree is
  // left exactly as it was. Missing parent directories are created; devices and fifos are
  // skipped; hard links become copies.
  Status Import(const std::string& dir, const std::string& tar);

  nlohmann::json ToJson() const;
  // InvalidArgument on anything malformed (never throws).
  static Result<TarFs> FromJson(const nlohmann::json& j);

 private:
  // `path` with symlinks resolved inside the root (lexical for missing components); nullopt
  // on a symlink loop.
  std::optional<std::string> Resolve(const std::string& path, bool follow_last) const;

  std::map<std::string, Node> nodes_;  // key: normalised absolute path; "/" always present
};

}  // namespace zunvm
