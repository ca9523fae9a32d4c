// GET / (root version document) and GET /v1 (the v1 document).
#include "rest/api.h"

namespace zunvm {

using nlohmann::json;

namespace {
json VersionEntry(const std::string& base) {
  return {{"id", "v1"},
          {"status", "CURRENT"},
          {"min_version", kMinVersion.ToString()},
          {"max_version", kMaxVersion.ToString()},
          {"links", json::array({{{"href", base + "/v1/"}, {"rel", "self"}}})}};
}
json Pair(const std::string& base, const std::string& name) {
  return json::array({{{"href", base + "/v1/" + name + "/"}, {"rel", "self"}},
                      {{"href", base + "/" + name + "/"}, {"rel", "bookmark"}}});
}
}  // namespace

json RootDocument(const std::string& base) {
  return {{"name", "OpenStack Zun API"},
          {"description", "Zun is an OpenStack project which aims to provide containers service."},
          {"versions", json::array({VersionEntry(base)})},
          {"default_version", VersionEntry(base)}};
}

void AddVersionRoutes(Router& r, const ApiDeps&) {
  r.Add("GET", "/v1", [](ApiRequest& req) -> Result<ApiResponse> {
    const std::string& b = req.base_url;
    json doc = {
        {"id", "v1"},
        {"media_types",
         json::array({{{"base", "application/json"},
                       {"type", "application/vnd.openstack.zun.v1+json"}}})},
        {"links", json::array({{{"href", b + "/v1/"}, {"rel", "self"}},
                               {{"href", "https://docs.openstack.org/developer/zun/dev/api-spec-v1.html"},
                                {"rel", "describedby"},
                                {"type", "text/html"}}})}};
    for (const char* name : {"services", "containers", "images", "networks", "hosts", "capsules",
                             "availability_zones", "quotas", "quota_classes", "registries"}) {
      doc[name] = Pair(b, name);
    }
    return ApiResponse::Json(200, doc);
  });
}

}  // namespace zunvm
