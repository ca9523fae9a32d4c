#include "service/keystone_token_validator.h"

// spdlog (fmt) before cpprestsdk, whose U() macro breaks fmt's headers.
#include "common/logging.h"

#include <cpprest/http_client.h>

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/sha256.h"

namespace zunvm {

namespace http = web::http;
using nlohmann::json;

namespace {

constexpr size_t kMaxBody = 1 << 20;  // a token document with its catalog is far smaller
constexpr std::chrono::seconds kTimeout{10};
constexpr std::chrono::seconds kRenewBefore{60};

Status Unauthorized(const std::string& why) {
  return Status(Code::kUnauthorized, "Authentication required: " + why + ".", "NotAuthorized");
}

const std::string* StringAt(const json& j, const char* a, const char* b) {
  if (!j.is_object()) return nullptr;
  auto x = j.find(a);
  if (x == j.end() || !x->is_object()) return nullptr;
  auto y = x->find(b);
  if (y == x->end() || !y->is_string()) return nullptr;
  return y->get_ptr<const std::string*>();
}

// The identity and expiry of a token document ({"token": {...}}); nullopt if any part is
// missing or malformed.
std::optional<std::pair<Identity, TimePoint>> ParseToken(const std::string& body) {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("token") || !doc["token"].is_object()) return std::nullopt;
  const json& t = doc["token"];
  const std::string* user = StringAt(t, "user", "id");
  const std::string* project = StringAt(t, "project", "id");
  auto exp = t.find("expires_at");
  if (!user || !project || exp == t.end() || !exp->is_string()) return std::nullopt;
  auto expires = ParseRfc3339Nano(exp->get<std::string>());
  if (!expires || user->empty() || project->empty() || user->size() > 255 || project->size() > 255) return std::nullopt;
  Identity id{*user, *project, {}};
  if (auto roles = t.find("roles"); roles != t.end() && roles->is_array()) {
    for (const auto& r : *roles) {
      if (r.is_object() && r.contains("name") && r["name"].is_string()) id.roles.push_back(r["name"].get<std::string>());
    }
  }
  return std::make_pair(std::move(id), *expires);
}

}  // namespace

KeystoneTokenValidator::KeystoneTokenValidator(const Config& cfg)
    : auth_url_(cfg.ks_auth_url),
      username_(cfg.ks_username),
      password_(cfg.ks_password),
      project_name_(cfg.ks_project_name),
      user_domain_(cfg.ks_user_domain_name),
      project_domain_(cfg.ks_project_domain_name),
      cafile_(cfg.ks_cafile),
      cache_time_(cfg.ks_token_cache_time) {
  while (!auth_url_.empty() && auth_url_.back() == '/') auth_url_.pop_back();
  http::client::http_client_config hc;
  hc.set_timeout(kTimeout);
  if (!cafile_.empty()) {
    std::string ca = cafile_;
    hc.set_ssl_context_callback([ca](boost::asio::ssl::context& ctx) { ctx.load_verify_file(ca); });
  }
  try {
    client_ = std::make_unique<http::client::http_client>(auth_url_, hc);
  } catch (const std::exception& e) {  // a malformed auth_url: every request answers 503
    client_error_ = e.what();
  }
}

KeystoneTokenValidator::~KeystoneTokenValidator() = default;

Result<KeystoneTokenValidator::Answer> KeystoneTokenValidator::Send(const std::string& method, const std::string& path,
                                                                    const std::string& body, const std::string& auth_token,
                                                                    const std::string& subject_token) {
  if (!client_) return Err(Status::Unavailable("the identity service (Keystone) is unreachable: " + client_error_));
  try {
    http::http_request req(method);
    req.set_request_uri(path);
    req.headers().add("Accept", "application/json");
    if (!auth_token.empty()) req.headers().add("X-Auth-Token", auth_token);
    if (!subject_token.empty()) req.headers().add("X-Subject-Token", subject_token);
    if (!body.empty()) req.set_body(body, "application/json");
    http::http_response resp = client_->request(req).get();
    Answer a;
    a.status = resp.status_code();
    if (resp.headers().content_length() > kMaxBody) return Err(Status::Unavailable("Keystone's answer is too large"));
    auto bytes = resp.extract_vector().get();
    if (bytes.size() > kMaxBody) return Err(Status::Unavailable("Keystone's answer is too large"));
    a.body.assign(bytes.begin(), bytes.end());
    if (resp.headers().has("X-Subject-Token")) a.subject_token = resp.headers()["X-Subject-Token"];
    return a;
  } catch (const std::exception& e) {
    return Err(Status::Unavailable(std::string("the identity service (Keystone) is unreachable: ") + e.what()));
  }
}

Result<std::string> KeystoneTokenValidator::ServiceToken(bool renew) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!renew && !service_token_.empty() && std::chrono::system_clock::now() + kRenewBefore < service_token_expires_) {
      return service_token_;
    }
  }
  json auth = {{"auth",
                {{"identity",
                  {{"methods", {"password"}},
                   {"password", {{"user", {{"name", username_}, {"domain", {{"name", user_domain_}}}, {"password", password_}}}}}}},
                 {"scope", {{"project", {{"name", project_name_}, {"domain", {{"name", project_domain_}}}}}}}}}};
  auto a = Send(http::methods::POST, "/auth/tokens", auth.dump(), "", "");
  if (!a) return Err(a.error());
  if (a->status >= 500) return Err(Status::Unavailable("Keystone answered " + std::to_string(a->status)));
  if (a->status != 201 || a->subject_token.empty()) {
    Logger("api")->error("Keystone refused zunvmd's service user {} ({}): check [keystone_authtoken]", username_,
                         a->status);
    return Err(Status::Unavailable("the identity service refused zunvmd's own credentials"));
  }
  auto parsed = ParseToken(a->body);
  if (!parsed) return Err(Status::Unavailable("Keystone's token document is malformed"));
  std::lock_guard<std::mutex> l(mu_);
  service_token_ = a->subject_token;
  service_token_expires_ = parsed->second;
  return service_token_;
}

void KeystoneTokenValidator::Remember(const std::string& key, const Identity& id, TimePoint expires) {
  if (cache_time_.count() == 0) return;
  TimePoint now = std::chrono::system_clock::now();
  TimePoint until = std::min(expires, now + cache_time_);
  std::lock_guard<std::mutex> l(mu_);
  if (cache_.size() >= kMaxCached) {
    for (auto it = cache_.begin(); it != cache_.end();) it = it->second.trusted_until <= now ? cache_.erase(it) : std::next(it);
    while (cache_.size() >= kMaxCached) {
      auto soonest = std::min_element(cache_.begin(), cache_.end(), [](const auto& a, const auto& b) {
        return a.second.trusted_until < b.second.trusted_until;
      });
      cache_.erase(soonest);
    }
  }
  cache_[key] = Cached{id, until};
}

Result<Identity> KeystoneTokenValidator::Validate(const std::string& token) {
  if (token.empty()) return Err(Unauthorized("missing X-Auth-Token"));
  if (token.size() > 8192) return Err(Unauthorized("invalid X-Auth-Token"));
  const std::string key = Sha256Digest(token);
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      if (std::chrono::system_clock::now() < it->second.trusted_until) return it->second.identity;
      cache_.erase(it);
    }
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto service = ServiceToken(/*renew=*/attempt > 0);
    if (!service) return Err(service.error());
    auto a = Send(http::methods::GET, "/auth/tokens", "", *service, token);
    if (!a) return Err(a.error());
    if (a->status == 401 && attempt == 0) continue;  // the service token went stale: renew once
    if (a->status == 404 || a->status == 401 || a->status == 400) {
      return Err(Unauthorized("invalid or expired X-Auth-Token"));
    }
    if (a->status != 200) return Err(Status::Unavailable("Keystone answered " + std::to_string(a->status)));
    auto parsed = ParseToken(a->body);
    if (!parsed) return Err(Unauthorized("the token is not scoped to a project"));
    if (parsed->second <= std::chrono::system_clock::now()) return Err(Unauthorized("the token has expired"));
    Remember(key, parsed->first, parsed->second);
    return parsed->first;
  }
  return Err(Status::Unavailable("Keystone does not accept zunvmd's service token"));
}

}  // namespace zunvm
