// TarWriter: builds a POSIX tar (ustar headers, pax extended headers for names and link
// targets longer than ustar allows) in memory, up to a byte cap. Our own writer rather than
// libarchive's: libarchive's write side drags every format and its libraries into the static
// agent; reading hostile archives still goes through libarchive (see files.cc).
// Thread safety: none. Errors: PayloadTooLarge past the cap.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/status.h"

namespace zunvm::rootfiles {

struct TarEntry {
  enum Type : char { kFile = '0', kHardLink = '1', kSymlink = '2', kChar = '3', kBlock = '4', kDir = '5', kFifo = '6' };
  std::string name;   // relative; a directory gets its trailing '/' from the writer
  std::string link;   // symlink or hard link target
  Type type = kFile;
  uint32_t mode = 0644;
  uint32_t uid = 0, gid = 0;
  int64_t mtime = 0;
  dev_t rdev = 0;
};

class TarWriter {
 public:
  explicit TarWriter(size_t cap) : cap_(cap) {}
  // `data` is the content of a regular file (ignored for other types).
  Status Add(const TarEntry& e, const std::string& data);
  // The archive with its end-of-archive blocks. The writer is spent afterwards.
  std::string Finish();
  size_t size() const { return out_.size(); }
  size_t cap() const { return cap_; }

 private:
  void Header(const std::string& name, const std::string& link, char type, uint32_t mode, uint32_t uid,
              uint32_t gid, int64_t size, int64_t mtime, dev_t rdev);
  std::string out_;
  size_t cap_;
};

}  // namespace zunvm::rootfiles
