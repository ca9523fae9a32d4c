// /v1/capsules: Zun's capsules (pods) — create from a template, list, show, delete
// (docs/capsules.md). The members are containers: /v1/containers/<member> works on them.
#include <algorithm>

#include "rest/api.h"
#include "rest/capsule_template.h"
#include "rest/pagination.h"
#include "rest/policy.h"
#include "rest/views.h"
#include "service/capsule_service.h"

namespace zunvm {

using nlohmann::json;

namespace {

json View(const ApiDeps& d, const ApiRequest& req, const Capsule& c) {
  auto [init, members] = d.capsules->Members(c);
  return CapsuleView(c, init, members, req.base_url, req.version, d.containers->Now(), req.ctx.is_admin);
}

// `block_volumes` (the Zun driver's Cinder volumes, admins only): {"<spec.volumes name>":
// {"device_path": "/dev/...", "serial": "..."}} — that volume is the host's block device.
Status ApplyBlockVolumes(const json& blocks, Capsule& c) {
  auto bad = [](const std::string& why) { return Status::Invalid("Invalid block_volumes: " + why, "SchemaValidationError"); };
  if (!blocks.is_object()) return bad("not an object");
  for (const auto& [name, b] : blocks.items()) {
    auto v = std::find_if(c.volumes.begin(), c.volumes.end(), [&](const CapsuleVolume& cv) { return cv.name == name; });
    if (v == c.volumes.end()) return bad("the template has no volume '" + name.substr(0, 64) + "'");
    if (!b.is_object() || !b.contains("device_path") || !b["device_path"].is_string() || !b.contains("serial") ||
        !b["serial"].is_string()) {
      return bad(name.substr(0, 64) + " needs device_path and serial strings");
    }
    std::string path = b["device_path"], serial = b["serial"];
    if (path.empty() || path[0] != '/' || path.size() > 4096) return bad("device_path must be an absolute path");
    if (serial.empty() || serial.size() > 64) return bad("serial must be 1 to 20 of [A-Za-z0-9._-]");
    v->device_path = path;
    v->serial = serial;
    v->size_gib.reset();
    v->auto_remove = false;
  }
  return Status::Ok();
}

Result<ApiResponse> Create(const ApiDeps& d, ApiRequest& req) {
  if (!req.body_is_json) return Err(UnsupportedMedia(req));
  json body = req.body;
  json nets = json::array();
  // `nets`: the capsule's networks, as a container create's (the Zun driver passes them).
  if (body.is_object() && body.contains("nets")) {
    nets = body["nets"];
    body.erase("nets");
    if (!nets.is_array()) return Err(Status::Invalid("Invalid input for field/attribute nets: not a list.", "SchemaValidationError"));
  }
  json blocks = json::object();
  if (body.is_object() && body.contains("block_volumes")) {
    blocks = body["block_volumes"];
    body.erase("block_volumes");
    ZUNVM_RETURN_IF_ERROR(RequireAdmin(req.ctx, "capsule:create:block_volumes"));
  }
  auto parsed = ParseCapsuleBody(body, req.version, *d.cfg, req.ctx.is_admin);
  if (!parsed) return Err(parsed.error());
  parsed->capsule.requested_nets = nets;
  ZUNVM_RETURN_IF_ERROR(ApplyBlockVolumes(blocks, parsed->capsule));
  auto stored = d.capsules->Create(req.ctx, std::move(*parsed));
  if (!stored) return Err(stored.error());
  ApiResponse r = ApiResponse::Json(202, View(d, req, *stored));
  r.headers.emplace_back("Location", req.base_url + "/v1/capsules/" + stored->uuid);
  return r;
}

Result<ApiResponse> List(const ApiDeps& d, ApiRequest& req) {
  auto query = req.query;
  auto page = TakePagination(query, d.cfg->max_limit, "id");
  if (!page) return Err(page.error());
  auto all = TakeBool(query, "all_projects", false);
  if (!all) return Err(all.error());
  auto list = d.capsules->List(req.ctx, static_cast<size_t>(page->limit), page->marker, page->descending);
  if (!list) return Err(list.error());
  json items = json::array();
  for (const auto& c : *list) items.push_back(View(d, req, c));
  std::string next = list->empty() ? "" : NextUrl(req.base_url, "capsules", *page, list->back().uuid);
  return ApiResponse::Json(200, Collection("capsules", std::move(items), static_cast<size_t>(page->limit), next));
}

}  // namespace

void AddCapsuleRoutes(Router& r, const ApiDeps& d) {
  if (!d.capsules) return;
  r.Add("POST", "/v1/capsules", [d](ApiRequest& q) { return Create(d, q); });
  r.Add("GET", "/v1/capsules", [d](ApiRequest& q) { return List(d, q); });
  r.Add("GET", "/v1/capsules/{id}", [d](ApiRequest& q) -> Result<ApiResponse> {
    auto c = d.capsules->Lookup(q.ctx, q.path.at("id"));
    if (!c) return Err(c.error());
    return ApiResponse::Json(200, View(d, q, *c));
  });
  r.Add("DELETE", "/v1/capsules/{id}", [d](ApiRequest& q) -> Result<ApiResponse> {
    Status st = d.capsules->Delete(q.ctx, q.path.at("id"));
    if (!st.ok()) return Err(st);
    return ApiResponse::Empty(204);
  });
}

}  // namespace zunvm
