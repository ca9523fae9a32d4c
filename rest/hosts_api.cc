// /v1/hosts (1.4+): this host as the one compute node; /v1/availability_zones.
#include "rest/api.h"
#include "rest/pagination.h"
#include "rest/views.h"
#include "service/host_service.h"

namespace zunvm {

using nlohmann::json;

void AddHostRoutes(Router& r, const ApiDeps& d) {
  r.Add("GET", "/v1/hosts", [d](ApiRequest& req) -> Result<ApiResponse> {
    auto query = req.query;
    auto page = TakePagination(query, d.cfg->max_limit, "hostname");
    if (!page) return Err(page.error());
    auto h = d.hosts->ThisHost();
    if (!h) return Err(h.error());
    json items = json::array();
    if (page->marker && *page->marker != h->uuid) {
      return Err(Status::NotFound("Marker " + *page->marker + " could not be found.",
                                  "MarkerNotFound"));
    }
    if (!page->marker) items.push_back(HostView(*h, req.base_url));  // one host: nothing after it
    return ApiResponse::Json(200, Collection("hosts", std::move(items),
                                             static_cast<size_t>(page->limit),
                                             NextUrl(req.base_url, "hosts", *page, h->uuid)));
  }, {1, 4});
  r.Add("GET", "/v1/hosts/{id}", [d](ApiRequest& req) -> Result<ApiResponse> {
    auto h = d.hosts->ThisHost();
    if (!h) return Err(h.error());
    const std::string& id = req.path.at("id");
    if (id != h->uuid && id != h->info.hostname) {
      return Err(Status::NotFound("ComputeNode " + id + " could not be found.",
                                  "ComputeHostNotFound"));
    }
    return ApiResponse::Json(200, HostView(*h, req.base_url));
  }, {1, 4});
  r.Add("GET", "/v1/availability_zones", [d](ApiRequest&) -> Result<ApiResponse> {
    return ApiResponse::Json(
        200, {{"availability_zones",
               json::array({{{"availability_zone", d.cfg->default_availability_zone}}})}});
  });
}

}  // namespace zunvm
