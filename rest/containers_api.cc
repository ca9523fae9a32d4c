// /v1/containers: create (run), list, show, update (PATCH), delete.
#include "common/strings.h"
#include "rest/api.h"
#include "rest/create_schema.h"
#include "rest/pagination.h"
#include "rest/policy.h"
#include "rest/views.h"

namespace zunvm {

using nlohmann::json;

Status UnsupportedMedia(const ApiRequest& req) {
  return Status(Code::kUnsupportedMedia,
                "Unexpected content type \"" + req.http->Header("content-type") +
                    "\"; expected application/json.",
                "UnsupportedMediaType");
}

namespace {

// Appends ContainerView serialised, through the API's cache of renderings when it has one.
void AppendView(std::string& out, const ApiDeps& d, const Container& c, const ApiRequest& req, TimePoint now) {
  if (d.views == nullptr) {
    out += DumpJson(ContainerView(c, req.base_url, now, req.ctx.is_admin));
  } else {
    d.views->AppendTo(out, c, req.base_url, now, req.ctx.is_admin);
  }
}

Result<ApiResponse> Create(const ApiDeps& d, ApiRequest& req) {
  if (!req.body_is_json) return Err(UnsupportedMedia(req));
  auto run = ParseBoolParam(req.Param("run"), "run", false);
  if (!run) return Err(run.error());
  auto c = ParseCreateBody(req.body, req.version, *d.cfg);
  if (!c) return Err(c.error());
  // Zun's admin-only create fields, each with its rule.
  static const std::pair<const char*, const char*> kAdminFields[] = {
      {"runtime", "container:create:runtime"},
      {"image_pull_policy", "container:create:image_pull_policy"},
      {"host", "container:create:requested_destination"}};
  for (const auto& [key, rule] : kAdminFields) {
    if (req.body.is_object() && req.body.contains(key) && !req.body[key].is_null()) {
      ZUNVM_RETURN_IF_ERROR(RequireAdmin(req.ctx, rule));
    }
  }
  auto stored = d.containers->Create(req.ctx, std::move(*c), *run);
  if (!stored) return Err(stored.error());
  ApiResponse r = ApiResponse::Json(202, ContainerView(*stored, req.base_url, d.containers->Now(), req.ctx.is_admin));
  r.headers.emplace_back("Location", req.base_url + "/v1/containers/" + stored->uuid);
  return r;
}

Result<ApiResponse> List(const ApiDeps& d, ApiRequest& req) {
  auto query = req.query;
  auto page = TakePagination(query, d.cfg->max_limit, "id");
  if (!page) return Err(page.error());
  // all_projects (checked and applied in Api::Handle) is not a filter.
  auto all = TakeBool(query, "all_projects", false);
  if (!all) return Err(all.error());
  ListQuery lq;
  lq.sort_key = page->sort_key;
  lq.descending = page->descending;
  lq.limit = page->limit;
  lq.marker = page->marker;
  lq.filters.insert(query.begin(), query.end());  // what is left: filters (ListQuery::Validate)
  for (const char* k : kAdminOnlyContainerFields) {  // Zun: filtering needs container:get_one:<key>
    if (lq.filters.count(k)) ZUNVM_RETURN_IF_ERROR(RequireAdmin(req.ctx, std::string("container:get_one:") + k));
  }
  auto list = d.containers->List(req.ctx, lq);
  if (!list) return Err(list.error());
  TimePoint now = d.containers->Now();
  std::string next = list->empty() ? "" : NextUrl(req.base_url, "containers", *page, list->back()->uuid);
  auto item = [&](size_t i, std::string& out) { AppendView(out, d, *(*list)[i], req, now); };
  return ApiResponse::Text(200, CollectionText("containers", list->size(), item, static_cast<size_t>(page->limit), next),
                           "application/json");
}

Result<ApiResponse> Show(const ApiDeps& d, ApiRequest& req) {
  auto c = d.containers->Lookup(req.ctx, req.path.at("id"));
  if (!c) return Err(c.error());
  std::string body;
  AppendView(body, d, *c, req, d.containers->Now());
  return ApiResponse::Text(200, std::move(body), "application/json");
}

Result<ApiResponse> Patch(const ApiDeps& d, ApiRequest& req) {
  if (!req.body_is_json) return Err(UnsupportedMedia(req));
  auto patch = ParsePatchBody(req.body, req.version, *d.cfg);
  if (!patch) return Err(patch.error());
  auto c = d.containers->Update(req.ctx, req.path.at("id"), *patch);
  if (!c) return Err(c.error());
  return ApiResponse::Json(200, ContainerView(*c, req.base_url, d.containers->Now(), req.ctx.is_admin));
}

Result<ApiResponse> Delete(const ApiDeps& d, ApiRequest& req) {
  auto force = ParseBoolParam(req.Param("force"), "force", false);
  if (!force) return Err(force.error());
  auto stop = ParseBoolParam(req.Param("stop"), "stop", false);
  if (!stop) return Err(stop.error());
  if (*stop && !req.version.AtLeast(12)) {
    return Err(Status::Invalid("Invalid param stop because current request version is " +
                                   req.version.ToString() +
                                   ". stop is only supported from version 1.12",
                               "InvalidParamInVersion"));
  }
  if (*stop && *force) {
    return Err(Status::Invalid("Can not set 'force' and 'stop' at the same time.",
                               "InvalidValue"));
  }
  Status st = d.containers->Delete(req.ctx, req.path.at("id"), *force, *stop);
  if (!st.ok()) return Err(st);
  return ApiResponse::Empty(204);
}

}  // namespace

void AddContainerRoutes(Router& r, const ApiDeps& d) {
  r.Add("POST", "/v1/containers", [d](ApiRequest& q) { return Create(d, q); });
  r.Add("GET", "/v1/containers", [d](ApiRequest& q) { return List(d, q); });
  r.Add("GET", "/v1/containers/{id}", [d](ApiRequest& q) { return Show(d, q); });
  r.Add("PATCH", "/v1/containers/{id}", [d](ApiRequest& q) { return Patch(d, q); });
  r.Add("DELETE", "/v1/containers/{id}", [d](ApiRequest& q) { return Delete(d, q); });
}

}  // namespace zunvm
