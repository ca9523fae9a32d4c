// /v1/images: the images this host holds (list, show, delete, pull of a local image), and the
// zunvm extension POST /v1/images/import, which takes a `docker save` or OCI image-layout
// archive as the request body (Content-Type application/x-tar; optional ?repo=NAME for
// archives whose images carry only a tag). POST /v1/images pulls from the image's registry
// (synchronously; the 202 carries the image) unless it is here and the policy is not `always`.
#include <sys/mman.h>
#include <unistd.h>

#include "rest/api.h"
#include "common/base64.h"
#include "common/strings.h"
#include "rest/views.h"
#include "service/image_service.h"

namespace zunvm {

using nlohmann::json;

namespace {

json ImageView(const ImageRecord& r, const std::string& base_url, const std::string& host) {
  return json{{"uuid", r.uuid},      {"links", Links(base_url, "images", r.uuid)},
              {"image_id", r.image_id}, {"repo", r.repo},
              {"tag", r.tag},         {"size", r.size},
              {"digest", r.digest},   {"project_id", nullptr},
              {"host", host}};
}

Result<ApiResponse> Import(ImageService* images, ApiRequest& req, const std::string& host) {
  const std::string& body = req.http->body;
  if (body.empty()) return Err(Status::Invalid("The request body must be an image archive (docker save or OCI layout)."));
  std::string repo = req.query.count("repo") ? req.query.at("repo") : "";
  int fd = ::memfd_create("zunvm-import", MFD_CLOEXEC);
  if (fd < 0) return Err(Status::Internal("memfd_create failed"));
  size_t done = 0;
  while (done < body.size()) {
    ssize_t w = ::write(fd, body.data() + done, body.size() - done);
    if (w <= 0) {
      ::close(fd);
      return Err(Status::Internal("buffering the archive failed"));
    }
    done += static_cast<size_t>(w);
  }
  ::lseek(fd, 0, SEEK_SET);
  auto r = images->Import(fd, repo);
  ::close(fd);
  if (!r) return Err(r.error());
  json items = json::array();
  for (const auto& img : *r) items.push_back(ImageView(img, req.base_url, host));
  return ApiResponse::Json(201, {{"images", items}});
}

}  // namespace

void AddImageRoutes(Router& r, const ApiDeps& d) {
  if (!d.images) return;
  ImageService* images = d.images;
  std::string host = d.cfg->HostName();
  r.Add("GET", "/v1/images", [images, host](ApiRequest& req) -> Result<ApiResponse> {
    auto all = images->List();
    if (!all) return Err(all.error());
    json items = json::array();
    for (const auto& img : *all) items.push_back(ImageView(img, req.base_url, host));
    return ApiResponse::Json(200, {{"images", items}, {"next", nullptr}});
  });
  r.Add("GET", "/v1/images/{id}", [images, host](ApiRequest& req) -> Result<ApiResponse> {
    auto img = images->Find(req.path.at("id"));
    if (!img) return Err(img.error());
    return ApiResponse::Json(200, ImageView(*img, req.base_url, host));
  });
  r.Add("DELETE", "/v1/images/{id}", [images](ApiRequest& req) -> Result<ApiResponse> {
    Status st = images->Delete(req.path.at("id"));
    if (!st.ok()) return Err(st);
    return ApiResponse::Empty(204);
  });
  r.Add("POST", "/v1/images", [images, host](ApiRequest& req) -> Result<ApiResponse> {
    if (!req.body.is_object()) return Err(Status::Invalid("The request body must be a JSON object with repo and host."));
    auto repo = req.body.find("repo");
    if (repo == req.body.end() || !repo->is_string()) return Err(Status::Invalid("repo is required."));
    std::string name = repo->get<std::string>();
    if (auto tag = req.body.find("tag"); tag != req.body.end() && tag->is_string() && !tag->get<std::string>().empty()) {
      name += ":" + tag->get<std::string>();
    }
    std::string policy = req.body.contains("image_pull_policy") && req.body["image_pull_policy"].is_string()
                             ? req.body["image_pull_policy"].get<std::string>()
                             : "ifnotpresent";
    if (policy != "ifnotpresent" && policy != "always" && policy != "never") {
      return Err(Status::Invalid("image_pull_policy must be ifnotpresent, always or never."));
    }
    auto img = images->Find(name);
    if (!img && img.error().code() != Code::kNotFound) return Err(img.error());
    if (!img || policy == "always") {
      if (policy == "never") return Err(img.error());
      img = images->Pull(name);  // synchronous: the 202 carries the pulled image
      if (!img) return Err(img.error());
    }
    ApiResponse resp = ApiResponse::Json(202, ImageView(*img, req.base_url, host));
    resp.headers.emplace_back("Location", req.base_url + "/v1/images/" + img->uuid);
    return resp;
  });
  r.Add("GET", "/v1/images/{id}/search", [images](ApiRequest& req) -> Result<ApiResponse> {
    std::string driver = req.query.count("image_driver") ? req.query.at("image_driver") : "docker";
    if (driver != "docker") return Err(Status::Invalid("image_driver must be docker (glance is not used by zunvmd)."));
    bool exact = req.query.count("exact_match") && ToLower(req.query.at("exact_match")) == "true";
    // A path segment cannot hold a "/": `?registry=HOST` (a zunvm extension) names the registry.
    std::string term = req.path.at("id");
    if (req.query.count("registry")) term = req.query.at("registry") + "/" + term;
    auto hits = images->Search(term, exact);
    if (!hits) return Err(hits.error());
    return ApiResponse::Json(200, *hits);
  });
  // zunvm extension: the image as a base64 `docker save` archive (what Zun's commit uploads
  // to Glance), at most [api] max_body_bytes of blobs.
  size_t max_export = static_cast<size_t>(d.cfg->max_body_bytes);
  r.Add("GET", "/v1/images/{id}/export", [images, max_export](ApiRequest& req) -> Result<ApiResponse> {
    auto tar = images->Export(req.path.at("id"), max_export);
    if (!tar) return Err(tar.error());
    return ApiResponse::Json(200, {{"data", Base64Encode(*tar)}});
  });
  r.Add("POST", "/v1/images/import", [images, host](ApiRequest& req) -> Result<ApiResponse> {
    return Import(images, req, host);
  });
}

}  // namespace zunvm
