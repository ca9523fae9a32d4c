#include "rest/api.h"

#include <algorithm>
#include <chrono>

#include "common/ids.h"
#include "common/logging.h"
#include "rest/views.h"
#include "common/metrics.h"
#include "common/strings.h"
#include "rest/auth.h"
#include "rest/errors.h"
#include "rest/pagination.h"
#include "rest/policy.h"
#include "rest/query.h"

namespace zunvm {

std::optional<std::string> ApiRequest::Param(const std::string& name) const {
  if (auto it = query.find(name); it != query.end()) return it->second;
  if (body.is_object()) {
    auto it = body.find(name);
    if (it != body.end()) {
      if (it->is_string()) return it->get<std::string>();
      if (it->is_boolean()) return std::string(it->get<bool>() ? "True" : "False");
      if (it->is_number()) return it->dump();
      if (it->is_null()) return std::string("None");
    }
  }
  return std::nullopt;
}

Api::Api(ApiDeps deps) : deps_(deps) {
  deps_.views = &views_;
  AddVersionRoutes(router_, deps_);
  AddContainerRoutes(router_, deps_);
  AddContainerActionRoutes(router_, deps_);
  AddHostRoutes(router_, deps_);
  AddImageRoutes(router_, deps_);
  AddVolumeRoutes(router_, deps_);
  AddCapsuleRoutes(router_, deps_);
  AddUnsupportedRoutes(router_, deps_);
}

namespace {

// X-Auth-Token, or the token of "Authorization: Bearer <token>" (what Prometheus sends).
std::string TokenOf(const HttpRequest& req) {
  std::string token = req.Header("x-auth-token");
  const std::string auth = req.Header("authorization");
  if (token.empty() && auth.size() > 7 && ToLower(auth.substr(0, 7)) == "bearer ") token = Trim(auth.substr(7));
  return token;
}

// The method as a metrics label: the standard ones, anything else as one value.
std::string MethodLabel(const std::string& m) {
  for (const char* known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    if (m == known) return m;
  }
  return "other";
}

}  // namespace

Status Api::Authenticate(const HttpRequest& req, RequestContext& ctx) const {
  const std::string& strategy = deps_.cfg->auth_strategy;
  if (strategy == "keystone") {
    if (!deps_.tokens) return Status::Unavailable("no identity service configured");
    auto id = deps_.tokens->Validate(TokenOf(req));
    if (!id) return id.error();
    ctx.user_id = id->user_id;
    ctx.project_id = id->project_id;
    ctx.roles = id->roles;
    ctx.is_admin = std::find(id->roles.begin(), id->roles.end(), "admin") != id->roles.end();  // context_is_admin
    return Status::Ok();
  }
  if (strategy == "token" && !TokenAccepted(TokenOf(req), deps_.cfg->auth_tokens)) {
    return Status(Code::kUnauthorized, "Authentication required: missing or invalid X-Auth-Token.",
                  "NotAuthorized");
  }
  // noauth and token: the caller is the operator, naming itself by headers if it wants.
  ctx.user_id = req.Header("x-user-id").empty() ? "zunvm" : req.Header("x-user-id");
  ctx.project_id = req.Header("x-project-id").empty() ? "zunvm" : req.Header("x-project-id");
  ctx.is_admin = true;
  ctx.all_projects = true;
  if (!IsValidUtf8(ctx.user_id) || !IsValidUtf8(ctx.project_id) || ctx.user_id.size() > 255 ||
      ctx.project_id.size() > 255) {
    return Status::Invalid("Invalid X-User-Id or X-Project-Id header.");
  }
  return Status::Ok();
}

namespace {

void AddVersionHeaders(HttpResponse& resp, const ApiVersion& v) {
  resp.SetHeader("OpenStack-API-Minimum-Version", "container " + kMinVersion.ToString());
  resp.SetHeader("OpenStack-API-Maximum-Version", "container " + kMaxVersion.ToString());
  resp.SetHeader("OpenStack-API-Version", "container " + v.ToString());
  resp.SetHeader("Vary", "OpenStack-API-Version");
}

HttpResponse ToHttp(ApiResponse&& r) {
  HttpResponse out;
  out.status = r.status;
  out.headers = std::move(r.headers);
  if (r.body) {
    out.content_type = "application/json";
    out.body = DumpJson(*r.body);
  } else if (r.text) {
    out.content_type = std::move(r.text_type);
    out.body = std::move(*r.text);
  }
  return out;
}

std::string BaseUrl(const Config& cfg, const HttpRequest& req) {
  if (!cfg.public_url.empty()) {
    std::string u = cfg.public_url;
    while (!u.empty() && u.back() == '/') u.pop_back();
    return u;
  }
  std::string host = req.Header("host");
  // The Host header is client input that ends up in links: keep only host[:port] characters.
  bool ok = !host.empty() && host.size() < 256;
  for (char c : host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
          c == '[' || c == ']')) {
      ok = false;
    }
  }
  if (!ok) host = cfg.host_ip + ":" + std::to_string(cfg.port);
  return req.scheme + "://" + host;
}

}  // namespace

HttpResponse Api::Handle(const HttpRequest& req) {
  std::string rid = NewRequestId();
  ApiRequest ar;
  ar.http = &req;
  ar.version = kMinVersion;
  ar.ctx.request_id = rid;
  bool versioned = false;
  std::string allowed;  // methods of the matched path, for a 405's Allow header
  std::string route = "other";  // the matched route's pattern, for the metrics
  const auto t0 = std::chrono::steady_clock::now();
  Result<ApiResponse> result = [&]() -> Result<ApiResponse> {
    if (req.body_too_large) {
      return Err(Status(Code::kPayloadTooLarge,
                        "Request body is larger than the limit of " +
                            std::to_string(deps_.cfg->max_body_bytes) + " bytes.",
                        "RequestEntityTooLarge"));
    }
    // Decode the path into segments; empty segments (//, trailing /) are dropped.
    std::vector<std::string> segments;
    for (const std::string& raw : Split(req.raw_path, '/')) {
      if (raw.empty()) continue;
      auto seg = PercentDecode(raw, false);
      if (!seg || !IsValidUtf8(*seg) || seg->find('\0') != std::string::npos) {
        return Err(Status::Invalid("Malformed request path."));
      }
      if (*seg == "." || *seg == ".." || seg->find('/') != std::string::npos) {
        return Err(Status::NotFound("The resource could not be found.", "NotFound"));
      }
      segments.push_back(*seg);
    }
    ar.base_url = BaseUrl(*deps_.cfg, req);
    if (segments.empty()) {
      route = "/";
      if (req.method != "GET" && req.method != "HEAD") {
        return Err(Status(Code::kMethodNotAllowed, "The method " + req.method +
                          " is not allowed for this resource.", "MethodNotAllowed"));
      }
      return ApiResponse::Json(200, RootDocument(ar.base_url));
    }
    if (segments.size() == 1 && segments[0] == "healthcheck") {
      route = "/healthcheck";
      ApiResponse r = ApiResponse::Empty(200);
      return r;
    }
    if (segments.size() == 1 && segments[0] == "metrics" && deps_.cfg->metrics_enabled) {
      route = "/metrics";
      if (req.method != "GET" && req.method != "HEAD") {
        return Err(Status(Code::kMethodNotAllowed, "The method " + req.method + " is not allowed for this resource.",
                          "MethodNotAllowed"));
      }
      ZUNVM_RETURN_IF_ERROR(Authenticate(req, ar.ctx));
      ZUNVM_RETURN_IF_ERROR(RequireAdmin(ar.ctx, "metrics"));  // every project's containers are in it
      return ApiResponse::Text(200, metrics::Global().Render(), "text/plain; version=0.0.4; charset=utf-8");
    }
    if (segments[0] != "v1") segments.insert(segments.begin(), "v1");  // version-less paths
    versioned = true;
    auto version = ParseVersionHeader(req.Header("openstack-api-version"));
    if (!version) return Err(version.error());
    ar.version = *version;
    bool is_public = segments.size() == 1;  // GET /v1 is public, like Keystone's authtoken
    if (!is_public) ZUNVM_RETURN_IF_ERROR(Authenticate(req, ar.ctx));
    auto query = ParseQuery(req.raw_query);
    if (!query) return Err(query.error());
    ar.query = std::move(*query);
    if (auto all = ar.query.find("all_projects"); !is_public && all != ar.query.end()) {
      auto want = ParseBoolParam(all->second, "all_projects", false);
      if (!want) return Err(want.error());
      if (*want) {
        ZUNVM_RETURN_IF_ERROR(RequireAdmin(ar.ctx, "container:get_all_all_projects"));
        ar.ctx.all_projects = true;
      }
    }
    std::string ctype = ToLower(req.Header("content-type"));
    ar.body_is_json = ctype.rfind("application/json", 0) == 0;
    if (ar.body_is_json && !Trim(req.body).empty() && req.method != "GET") {
      ar.body = nlohmann::json::parse(req.body, nullptr, false);
      if (ar.body.is_discarded()) {
        return Err(Status::Invalid("Malformed JSON body (or not UTF-8 text).", "InvalidValue"));
      }
    }
    auto match = router_.Match(req.method == "HEAD" ? "GET" : req.method, segments, ar.version,
                               &allowed);
    if (!match) return Err(match.error());
    route = match->pattern;
    ZUNVM_RETURN_IF_ERROR(Authorize(ar.ctx, req.method == "HEAD" ? "GET" : req.method, match->pattern));
    ar.path = std::move(match->params);
    return (*match->handler)(ar);
  }();

  HttpResponse resp;
  if (result) {
    resp = ToHttp(std::move(*result));
  } else {
    resp = ErrorResponse(result.error(), rid);
    if (result.error().code() == Code::kMethodNotAllowed) {
      if (!allowed.empty()) resp.SetHeader("Allow", allowed);
    }
    if (result.error().code() == Code::kUnauthorized) {
      resp.SetHeader("WWW-Authenticate", "Keystone uri=\"" + ar.base_url + "\"");
    }
  }
  if (req.method == "HEAD") resp.body.clear();
  resp.SetHeader("X-OpenStack-Request-Id", rid);
  if (versioned) AddVersionHeaders(resp, ar.version);
  static auto& requests = metrics::Global().Counter("zunvm_api_requests_total", "API requests by route, method and status",
                                                    {"route", "method", "status"});
  static auto& latency = metrics::Global().Histogram("zunvm_api_request_duration_seconds",
                                                     "API request handling time by route and method",
                                                     {"route", "method"}, metrics::RequestSeconds());
  const std::string method = MethodLabel(req.method);
  requests.Inc({route, method, std::to_string(resp.status)});
  latency.Observe({route, method}, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  Logger("api")->debug("{} {} {} -> {}", rid, req.method, req.raw_path, resp.status);
  return resp;
}

}  // namespace zunvm
