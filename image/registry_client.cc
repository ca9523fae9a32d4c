#include "image/registry_client.h"

// logging.h must come before cpprest (its U() macro breaks fmt).
#include "common/logging.h"

#include <cpprest/http_client.h>
#include <cpprest/rawptrstream.h>

#include <thread>

#include "common/base64.h"
#include "common/sha256.h"
#include "common/strings.h"
#include "image/auth_challenge.h"

namespace zunvm::image {

namespace {

namespace http = web::http;
using http::client::http_client;
using http::client::http_client_config;

constexpr size_t kMaxManifest = 4 << 20;
const char kAccept[] =
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

std::string ApiHost(const std::string& registry) { return registry == "docker.io" ? "registry-1.docker.io" : registry; }

std::string Header(const http::http_response& r, const char* name) {
  auto it = r.headers().find(name);
  return it == r.headers().end() ? "" : it->second;
}

// "host" or "host:port" of a URI.
std::string HostPort(const web::uri& uri) {
  return uri.authority().host() + (uri.port() > 0 ? ":" + std::to_string(uri.port()) : "");
}

// One request with redirects followed; `auth` is only sent to `auth_host`.
Result<http::http_response> Send(const std::string& url, const std::string& accept, const std::string& auth,
                                 const std::string& auth_host, const RegistryOptions& o) {
  std::string target = url;
  for (int hop = 0; hop < 5; ++hop) {
    web::uri uri(target);
    std::string host = HostPort(uri);
    http_client_config cfg;
    cfg.set_timeout(o.timeout);
    if (!o.ca_file.empty()) {
      std::string ca = o.ca_file;
      cfg.set_ssl_context_callback([ca](boost::asio::ssl::context& ctx) { ctx.load_verify_file(ca); });
    }
    http_client client(uri.scheme() + "://" + host, cfg);
    http::http_request req(http::methods::GET);
    req.set_request_uri(uri.resource());
    if (!accept.empty()) req.headers().add("Accept", accept);
    if (!auth.empty() && host == auth_host) req.headers().add("Authorization", auth);
    http::http_response resp = client.request(req).get();
    int code = resp.status_code();
    if (code == 301 || code == 302 || code == 303 || code == 307 || code == 308) {
      std::string loc = Header(resp, "Location");
      if (loc.empty()) return Err(Status::Unavailable("redirect without Location from " + host));
      if (loc.rfind("http", 0) != 0) loc = uri.scheme() + "://" + host + (loc[0] == '/' ? "" : "/") + loc;
      target = loc;
      continue;
    }
    return resp;
  }
    return Err(Status::Unavailable("too many redirects for " + url));
}

}  // namespace

RegistryClient::RegistryClient(std::string registry, RegistryOptions opts)
    : base_url_("https://" + ApiHost(registry)), registry_(std::move(registry)), opts_(std::move(opts)) {}

std::string RegistryClient::BaseUrl() {
  std::lock_guard<std::mutex> l(mu_);
  if (probed_ || !opts_.insecure) return base_url_;
  probed_ = true;
  RegistryOptions once = opts_;
  once.timeout = std::chrono::seconds(10);
  try {
    auto r = Send(base_url_ + "/v2/", "", "", "", once);  // any HTTP answer means TLS works
    if (r) return base_url_;
  } catch (const std::exception&) {
  }
  base_url_ = "http://" + ApiHost(registry_);
  return base_url_;
}

namespace {

// GETs `path` from the registry, with token/basic auth and retries. Runs `on_ok` on a 200.
template <typename Fn>
Status Get(const std::string& base_url, const std::string& host, const std::string& path, const std::string& accept,
           const std::string& scope, const RegistryOptions& o, std::mutex& mu, std::map<std::string, std::string>& tokens,
           Fn on_ok) {
  std::string basic = o.username.empty() ? "" : "Basic " + Base64Encode(o.username + ":" + o.password);
  Status last = Status::Unavailable("no attempt");
  for (int attempt = 0; attempt <= o.retries; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));  // backoff
    try {
      std::string auth;
      {
        std::lock_guard<std::mutex> l(mu);
        if (tokens.count(scope)) auth = "Bearer " + tokens[scope];
      }
      if (auth.empty()) auth = basic;
      auto resp = Send(base_url + path, accept, auth, host, o);
      if (!resp) {
        last = resp.error();
        continue;
      }
      int code = resp->status_code();
      if (code == 401) {
        auto ch = ParseChallenge(Header(*resp, "WWW-Authenticate"));
        if (ch["scheme"] != "bearer" || ch["realm"].empty()) {
          return Status(Code::kUnauthorized, "registry " + host + " refused the credentials", "Unauthorized");
        }
        bool had_token = auth.rfind("Bearer ", 0) == 0;
        if (had_token) {
          std::lock_guard<std::mutex> l(mu);
          tokens.erase(scope);
          if (attempt > 0) return Status(Code::kUnauthorized, "registry " + host + " refused the token", "Unauthorized");
        }
        std::string realm = ch["realm"];
        std::string q = "?service=" + PercentEncode(ch["service"]) + "&scope=" + PercentEncode(ch.count("scope") ? ch["scope"] : scope);
        std::string rhost = HostPort(web::uri(realm));
        auto tresp = Send(realm + q, "", basic, rhost, o);
        if (!tresp) return tresp.error();
        if (tresp->status_code() != 200) {
          return Status(Code::kUnauthorized, "token service " + rhost + " answered " + std::to_string(tresp->status_code()),
                        "Unauthorized");
        }
        auto body = tresp->extract_vector().get();
        if (body.size() > 1 << 20) return Status::Invalid("token response too large");
        auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
        std::string token;
        if (j.is_object()) {
          for (const char* k : {"token", "access_token"}) {
            if (j.contains(k) && j[k].is_string()) token = j[k].get<std::string>();
            if (!token.empty()) break;
          }
        }
        if (token.empty()) return Status::Invalid("token service " + rhost + " gave no token");
        {
          std::lock_guard<std::mutex> l(mu);
          tokens[scope] = token;
        }
        --attempt;  // the retry with the token is not a failure
        continue;
      }
      if (code == 404) return Status::NotFound(path + " is not in registry " + host, "ImageNotFound");
      if (code >= 500 || code == 429) {
        last = Status::Unavailable("registry " + host + " answered " + std::to_string(code));
        continue;
      }
      if (code != 200) return Status::Invalid("registry " + host + " answered " + std::to_string(code) + " for " + path);
      return on_ok(*resp);
    } catch (const std::exception& e) {
      last = Status::Unavailable("registry " + host + ": " + e.what());
    }
  }
  return last;
}

}  // namespace

Result<FetchedManifest> RegistryClient::GetManifest(const std::string& repository, const std::string& ref) {
  FetchedManifest out;
  std::string scope = "repository:" + repository + ":pull";
  Status st = Get(BaseUrl(), ApiHost(registry_), "/v2/" + repository + "/manifests/" + ref, kAccept, scope, opts_, mu_, tokens_,
                  [&](http::http_response& r) -> Status {
                    auto body = r.extract_vector().get();
                    fetched_ += static_cast<int64_t>(body.size());
                    if (body.size() > kMaxManifest) return Status::Invalid("manifest larger than 4 MiB");
                    out.body.assign(body.begin(), body.end());
                    out.media_type = Header(r, "Content-Type");
                    if (auto sc = out.media_type.find(';'); sc != std::string::npos) out.media_type.resize(sc);
                    return Status::Ok();
                  });
  if (!st.ok()) return Err(st);
  out.digest = Sha256Digest(out.body);
  if (ValidDigest(ref) && out.digest != ref) {
    return Err(Status::Invalid("manifest digest mismatch: asked for " + ref + ", got " + out.digest));
  }
  return out;
}

Result<std::string> RegistryClient::FetchBlob(const std::string& repository, const Descriptor& d, BlobStore& store) {
  if (store.Has(d.digest)) return d.digest;
  std::string digest;
  std::string scope = "repository:" + repository + ":pull";
  Status st = Get(BaseUrl(), ApiHost(registry_), "/v2/" + repository + "/blobs/" + d.digest, "", scope, opts_, mu_, tokens_,
                  [&](http::http_response& r) -> Status {
                    auto body = r.body();
                    auto put = store.Put(d.digest, d.size, d.size, [&](char* buf, size_t cap) -> Result<size_t> {
                      try {
                        concurrency::streams::rawptr_buffer<uint8_t> rb(reinterpret_cast<uint8_t*>(buf), cap, std::ios::out);
                        const size_t n = body.read(rb, cap).get();
                        fetched_ += static_cast<int64_t>(n);
                        return n;
                      } catch (const std::exception& e) {
                        return Err(Status::Unavailable(std::string("reading blob: ") + e.what()));
                      }
                    });
                    if (!put) return put.error();
                    digest = *put;
                    return Status::Ok();
                  });
  if (!st.ok()) return Err(st);
  return digest;
}

Result<std::vector<std::string>> RegistryClient::Catalog(const std::string& term) {
  std::vector<std::string> out;
  Status st = Get(BaseUrl(), ApiHost(registry_), "/v2/_catalog?n=1000", "application/json", "registry:catalog:*", opts_, mu_,
                  tokens_, [&](http::http_response& r) -> Status {
                    auto body = r.extract_vector().get();
                    if (body.size() > kMaxManifest) return Status::Invalid("catalog too large");
                    auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
                    if (!j.is_object() || !j.contains("repositories") || !j["repositories"].is_array()) {
                      return Status::Invalid("registry catalog is malformed");
                    }
                    for (const auto& r2 : j["repositories"]) {
                      if (r2.is_string() && r2.get<std::string>().find(term) != std::string::npos) out.push_back(r2.get<std::string>());
                    }
                    return Status::Ok();
                  });
  if (!st.ok()) return Err(st);
  return out;
}

Result<std::vector<std::string>> RegistryClient::Tags(const std::string& repository) {
  std::vector<std::string> out;
  Status st = Get(BaseUrl(), ApiHost(registry_), "/v2/" + repository + "/tags/list", "application/json",
                  "repository:" + repository + ":pull", opts_, mu_, tokens_, [&](http::http_response& r) -> Status {
                    auto body = r.extract_vector().get();
                    if (body.size() > kMaxManifest) return Status::Invalid("tag list too large");
                    auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
                    if (!j.is_object() || !j.contains("tags")) return Status::Invalid("registry tag list is malformed");
                    if (j["tags"].is_array()) {
                      for (const auto& t : j["tags"]) {
                        if (t.is_string()) out.push_back(t.get<std::string>());
                      }
                    }
                    return Status::Ok();
                  });
  if (!st.ok()) return Err(st);
  return out;
}

}  // namespace zunvm::image
