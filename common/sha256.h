// Incremental SHA-256 (OpenSSL EVP) for content addressing: "sha256:<hex>" digests.
// Not thread-safe per object; no shared state.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace zunvm {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view data);
  // "sha256:" + 64 lowercase hex digits. The object is spent afterwards.
  std::string Digest();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

std::string Sha256Digest(std::string_view data);

}  // namespace zunvm
