// TokenValidator: who an X-Auth-Token names. KeystoneTokenValidator asks Keystone
// (GET /v3/auth/tokens with zunvmd's own service token) and trusts an answer for
// [keystone_authtoken] token_cache_time seconds, never past the token's expiry.
//
// Errors: Unauthorized (not a valid, unexpired, project-scoped token), Unavailable (Keystone
// unreachable or answering 5xx; the caller answers 503, never lets the request through).
// Thread safety: implementations are thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace zunvm {

struct Identity {
  std::string user_id;
  std::string project_id;
  std::vector<std::string> roles;  // role names, as Keystone lists them
};

class TokenValidator {
 public:
  virtual ~TokenValidator() = default;
  virtual Result<Identity> Validate(const std::string& token) = 0;
};

}  // namespace zunvm
