// TarFs: the fake driver's in-memory container root filesystem (files, directories, symlinks)
// with Docker-style tar export/import through libarchive. Paths given to it are absolute and
// normalised ("/a/./b/" is "/a/b"); ".." never leaves "/".
//
// Thread safety: none; the owner (FakeDriver) serialises access.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "driver/driver.h"

namespace zunvm {

class TarFs {
 public:
  enum class Type { kFile, kDir, kSymlink };
  struct Node {
    Type type = Type::kFile;
    std::string data;       // file content or symlink target
    uint32_t mode = 0644;   // permission bits
    int64_t mtime = 0;      // seconds since the epoch
  };

  static constexpr int64_t kMaxBytes = 64 << 20;

  // A small root: /, /etc (hostname, hosts), /tmp, /root, /bin.
  explicit TarFs(const std::string& hostname = "fake");

  static std::string Normalize(const std::string& path);
  bool Exists(const std::string& path) const;
  bool IsDir(const std::string& path) const;
  // NotFound if missing, InvalidArgument for a directory.
  Result<std::string> ReadFile(const std::string& path) const;
  // Parent must be a directory (NotFound otherwise); total size capped at kMaxBytes.
  Status WriteFile(const std::string& path, const std::string& data, bool append);
  std::vector<std::string> List(const std::string& dir) const;  // names, sorted
  // mkdir -p; InvalidArgument when a component is not a directory.
  Status MakeDirs(const std::string& path);

  // Tar of `path` (its basename as the top entry) and its stat. NotFound if missing.
  Result<Archive> Export(const std::string& path) const;
  // Extracts into directory `dir`. Every entry is checked first (no absolute names, no "..",
  // nothing through a symlink, size cap); on any refusal nothing is applied.
  Status Import(const std::string& dir, const std::string& tar);

  nlohmann::json ToJson() const;
  static TarFs FromJson(const nlohmann::json& j);  // throws on malformed input

 private:
  int64_t TotalBytes() const;
  std::map<std::string, Node> nodes_;  // key: normalised absolute path
};

}  // namespace zunvm
