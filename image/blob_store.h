// BlobStore: content-addressed files under <dir>/sha256/<hex>. A blob is written to a temp
// file while it is hashed, and renamed into place only when its digest (and size, if known)
// is what was expected: nothing partially written or unverified is ever visible under a
// digest. Blobs are shared by every image that uses them.
//
// Thread safety: thread-safe; concurrent writers of one digest each use their own temp file
// and the last rename wins (same content). Errors: InvalidArgument for a digest or size
// mismatch (the data is discarded), NotFound for a missing blob, Internal for I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"

namespace zunvm::image {

class BlobStore {
 public:
  explicit BlobStore(std::string dir) : dir_(std::move(dir)) {}
  Status Init();
  bool Has(const std::string& digest) const;
  std::string Path(const std::string& digest) const;  // digest must be valid
  // Reads chunks from `read` (returns bytes placed in buf, 0 at the end) into a new blob.
  // `expected` empty: the blob is stored under whatever its digest is. `size` < 0: unknown.
  // `max_bytes` bounds what is read (PayloadTooLarge past it). Returns the digest.
  using Reader = std::function<Result<size_t>(char* buf, size_t cap)>;
  Result<std::string> Put(const std::string& expected, int64_t size, int64_t max_bytes, const Reader& read);
  Result<std::string> PutBytes(const std::string& data);
  // A whole blob into memory (manifests, configs), at most `max` bytes.
  Result<std::string> Read(const std::string& digest, size_t max) const;
  Status Remove(const std::string& digest);

 private:
  std::string dir_;
};

}  // namespace zunvm::image
