#include "rest/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace zunvm {

namespace {
void Digest(const std::string& s, unsigned char out[32]) {
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), out, &len, EVP_sha256(), nullptr);
}
}  // namespace

bool TokenAccepted(const std::string& presented, const std::vector<std::string>& tokens) {
  unsigned char p[32];
  Digest(presented, p);
  bool ok = false;
  for (const auto& t : tokens) {
    if (t.empty()) continue;
    unsigned char d[32];
    Digest(t, d);
    ok |= CRYPTO_memcmp(p, d, 32) == 0;  // no early exit: every token is compared
  }
  return ok && !presented.empty();
}

}  // namespace zunvm
