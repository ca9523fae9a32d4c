// Resources that need OpenStack services zunvmd does not have (images only without an
// ImageService, Neutron networks, Keystone quotas, registries):
// they answer with Zun's error envelope instead of a 404 from the router, so clients get a
// reason. /v1/services and quota reads have honest answers for a single host.
#include "rest/api.h"
#include "service/host_service.h"

namespace zunvm {

using nlohmann::json;

namespace {

ApiHandler NotHere(const std::string& why) {
  return [why](ApiRequest&) -> Result<ApiResponse> { return Err(Status::NotImplemented(why)); };
}

json UnlimitedQuota() {
  json q;
  for (const char* k : {"containers", "cpu", "memory", "disk"}) q[k] = -1;
  return q;
}

}  // namespace

void AddUnsupportedRoutes(Router& r, const ApiDeps& d) {
  const std::string images = "Image management is not available in this zunvmd yet.";
  if (!d.images) {
    r.Add("GET", "/v1/images", NotHere(images));
    r.Add("POST", "/v1/images", NotHere(images));
    r.Add("GET", "/v1/images/{id}", NotHere(images));
    r.Add("DELETE", "/v1/images/{id}", NotHere(images));
    r.Add("GET", "/v1/images/{id}/search", NotHere(images));
  }

  if (!d.capsules) {
    const std::string capsules = "Capsules are not available in this zunvmd.";
    r.Add("GET", "/v1/capsules", NotHere(capsules));
    r.Add("POST", "/v1/capsules", NotHere(capsules));
    r.Add("GET", "/v1/capsules/{id}", NotHere(capsules));
    r.Add("DELETE", "/v1/capsules/{id}", NotHere(capsules));
  }

  const std::string networks = "Zun networks need Neutron, which this zunvmd does not use.";
  r.Add("POST", "/v1/networks", NotHere(networks), {1, 27});
  r.Add("DELETE", "/v1/networks/{id}", NotHere(networks), {1, 27});

  const std::string registries =
      "Private registries are configured in zunvm.conf, not through the API.";
  r.Add("GET", "/v1/registries", NotHere(registries), {1, 30});
  r.Add("POST", "/v1/registries", NotHere(registries), {1, 30});
  r.Add("GET", "/v1/registries/{id}", NotHere(registries), {1, 30});
  r.Add("PATCH", "/v1/registries/{id}", NotHere(registries), {1, 30});
  r.Add("DELETE", "/v1/registries/{id}", NotHere(registries), {1, 30});

  // Quotas need Keystone projects; a single host without them is unlimited.
  const std::string quotas = "Quotas need Keystone projects; this zunvmd is unlimited.";
  r.Add("GET", "/v1/quotas/{project_id}", [](ApiRequest&) -> Result<ApiResponse> {
    return ApiResponse::Json(200, UnlimitedQuota());
  }, {1, 26});
  r.Add("GET", "/v1/quotas/{project_id}/defaults", [](ApiRequest&) -> Result<ApiResponse> {
    return ApiResponse::Json(200, UnlimitedQuota());
  }, {1, 26});
  r.Add("PUT", "/v1/quotas/{project_id}", NotHere(quotas), {1, 26});
  r.Add("DELETE", "/v1/quotas/{project_id}", NotHere(quotas), {1, 26});
  r.Add("GET", "/v1/quota_classes/{name}", [](ApiRequest&) -> Result<ApiResponse> {
    return ApiResponse::Json(200, UnlimitedQuota());
  }, {1, 26});
  r.Add("PUT", "/v1/quota_classes/{name}", NotHere(quotas), {1, 26});

  // Services: this daemon is the host's one compute service.
  r.Add("GET", "/v1/services", [d](ApiRequest&) -> Result<ApiResponse> {
    auto h = d.hosts->ThisHost();
    if (!h) return Err(h.error());
    json svc = {{"id", 1},
                {"host", h->info.hostname},
                {"binary", "zunvmd"},
                {"availability_zone", d.cfg->default_availability_zone},
                {"state", "up"},
                {"disabled", false},
                {"disabled_reason", nullptr},
                {"forced_down", false},
                {"report_count", 1},
                {"last_seen_up", nullptr},
                {"created_at", nullptr},
                {"updated_at", nullptr}};
    return ApiResponse::Json(200, {{"services", json::array({svc})}});
  });
  const std::string services = "zunvmd manages one host; services cannot be changed here.";
  r.Add("DELETE", "/v1/services", NotHere(services));
  r.Add("PUT", "/v1/services/enable", NotHere(services));
  r.Add("PUT", "/v1/services/disable", NotHere(services));
  r.Add("PUT", "/v1/services/force_down", NotHere(services));
}

}  // namespace zunvm
