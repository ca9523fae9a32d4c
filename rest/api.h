// Api: turns an HttpRequest into an HttpResponse — request id, path decoding and the
// version-less rewrite, microversion negotiation, authentication, routing, body parsing,
// error envelope and the standard response headers. Resource handlers live in *_api.cc.
//
// Thread safety: Handle() is thread-safe once constructed.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "rest/http.h"
#include "rest/microversion.h"
#include "rest/api_types.h"
#include "rest/container_view_cache.h"
#include "rest/router.h"
#include "service/container_service.h"
#include "service/token_validator.h"

namespace zunvm {

class HostService;
class ImageService;
class ConsoleService;
class VolumeService;
class CapsuleService;

// What handlers need; all pointers outlive the Api.
struct ApiDeps {
  const Config* cfg = nullptr;
  ContainerService* containers = nullptr;
  HostService* hosts = nullptr;
  ImageService* images = nullptr;  // null: image routes answer 501
  TokenValidator* tokens = nullptr;  // auth_strategy = keystone: who a token names
  ConsoleService* consoles = nullptr;  // null: attach and interactive exec answer 501
  // The console listener's base URL (ws://host:port or wss://...), set before the API serves.
  const std::string* console_url = nullptr;
  VolumeService* volumes = nullptr;  // null: no /v1/volumes, and mounts are refused
  CapsuleService* capsules = nullptr;  // null: /v1/capsules answers 501
  ContainerViewCache* views = nullptr;  // set by Api to its own; null: views are rendered each time
};

class Api {
 public:
  explicit Api(ApiDeps deps);
  HttpResponse Handle(const HttpRequest& req);

 private:
  Result<ApiResponse> Route(const HttpRequest& req, ApiRequest& ar, const std::string& rid);
  // Fills ctx's user, project and roles: from Keystone's answer (keystone), else from the
  // X-User-Id / X-Project-Id headers once the token (if any) is accepted.
  Status Authenticate(const HttpRequest& req, RequestContext& ctx) const;
  ContainerViewCache views_;
  ApiDeps deps_;
  Router router_;
};

// Route registration, one per resource file.
void AddVersionRoutes(Router& r, const ApiDeps& d);
void AddContainerRoutes(Router& r, const ApiDeps& d);
void AddContainerActionRoutes(Router& r, const ApiDeps& d);
void AddHostRoutes(Router& r, const ApiDeps& d);
void AddImageRoutes(Router& r, const ApiDeps& d);
void AddVolumeRoutes(Router& r, const ApiDeps& d);
void AddCapsuleRoutes(Router& r, const ApiDeps& d);
void AddUnsupportedRoutes(Router& r, const ApiDeps& d);

// 415 for a body that is not application/json (rest/containers_api.cc).
Status UnsupportedMedia(const ApiRequest& req);

// The root document served at GET / (no version negotiation there).
nlohmann::json RootDocument(const std::string& base_url);

}  // namespace zunvm
