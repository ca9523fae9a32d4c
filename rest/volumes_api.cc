// /v1/volumes (zunvm extension, docs/volumes.md): zunvmd's own volumes, listed, shown and
// deleted; they are made by containers' mounts.
#include "rest/api.h"
#include "rest/views.h"
#include "service/volume_service.h"

namespace zunvm {

using nlohmann::json;

void AddVolumeRoutes(Router& r, const ApiDeps& d) {
  VolumeService* volumes = d.volumes;
  if (!volumes) return;
  r.Add("GET", "/v1/volumes", [volumes](ApiRequest& req) -> Result<ApiResponse> {
    auto all = volumes->List(req.ctx);
    if (!all) return Err(all.error());
    json items = json::array();
    for (const auto& v : *all) items.push_back(VolumeView(v, req.base_url));
    return ApiResponse::Json(200, {{"volumes", std::move(items)}});
  });
  r.Add("GET", "/v1/volumes/{id}", [volumes](ApiRequest& req) -> Result<ApiResponse> {
    auto v = volumes->Get(req.ctx, req.path.at("id"));
    if (!v) return Err(v.error());
    return ApiResponse::Json(200, VolumeView(*v, req.base_url));
  });
  r.Add("DELETE", "/v1/volumes/{id}", [volumes](ApiRequest& req) -> Result<ApiResponse> {
    Status st = volumes->Delete(req.ctx, req.path.at("id"));
    if (!st.ok()) return Err(st);
    return ApiResponse::Empty(204);
  });
}

}  // namespace zunvm
