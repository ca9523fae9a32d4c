// KeystoneTokenValidator: TokenValidator over Keystone's identity API v3.
//  * zunvmd's service token: password authentication of [keystone_authtoken]'s user scoped to
//    its project (POST /v3/auth/tokens), renewed a minute before it expires or when Keystone
//    stops accepting it;
//  * a user's token: GET /v3/auth/tokens (X-Auth-Token: the service token, X-Subject-Token: the
//    user's); 404 or 401 for it is Unauthorized; a token without a project scope is too;
//  * a cache of validated tokens (keyed by the token's SHA-256, at most kMaxCached entries,
//    the soonest-expiring dropped first) trusted for token_cache_time seconds or until expiry.
// Everything Keystone sends is untrusted: bodies are capped and checked field by field.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/config.h"
#include "common/timefmt.h"
#include "service/token_validator.h"

namespace web::http::client {
class http_client;
}

namespace zunvm {

class KeystoneTokenValidator final : public TokenValidator {
 public:
  static constexpr size_t kMaxCached = 10000;

  explicit KeystoneTokenValidator(const Config& cfg);
  ~KeystoneTokenValidator() override;
  Result<Identity> Validate(const std::string& token) override;

 private:
  struct Cached {
    Identity identity;
    TimePoint trusted_until;
  };
  struct Answer {
    int status = 0;
    std::string body;
    std::string subject_token;  // X-Subject-Token
  };

  // One HTTP exchange with Keystone; Unavailable when it cannot be reached.
  Result<Answer> Send(const std::string& method, const std::string& path, const std::string& body,
                      const std::string& auth_token, const std::string& subject_token);
  // The service token (cached); `renew` forces a new one.
  Result<std::string> ServiceToken(bool renew);
  void Remember(const std::string& key, const Identity& id, TimePoint expires);

  std::string auth_url_;  // without a trailing "/"
  std::string username_, password_, project_name_, user_domain_, project_domain_, cafile_;
  std::chrono::seconds cache_time_;
  // One client (thread-safe, keeps its connections) for every request to Keystone.
  std::unique_ptr<web::http::client::http_client> client_;  // null if auth_url is not a URI
  std::string client_error_;

  std::mutex mu_;  // guards what follows; never held across a request to Keystone
  std::string service_token_;
  TimePoint service_token_expires_{};
  std::map<std::string, Cached> cache_;
};

}  // namespace zunvm
