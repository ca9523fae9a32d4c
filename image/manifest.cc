#include "image/manifest.h"

#include "image/reference.h"

namespace zunvm::image {

using nlohmann::json;

namespace {

constexpr size_t kMaxDocument = 4 << 20;
constexpr size_t kMaxLayers = 512;

Result<json> ParseJson(const std::string& body, const char* what) {
  if (body.size() > kMaxDocument) return Err(Status::Invalid(std::string(what) + " larger than 4 MiB"));
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Err(Status::Invalid(std::string(what) + " is not a JSON object"));
  return j;
}

Result<Descriptor> ParseDescriptor(const json& j, const std::string& where) {
  if (!j.is_object()) return Err(Status::Invalid(where + " is not an object"));
  Descriptor d;
  auto digest = j.find("digest");
  if (digest == j.end() || !digest->is_string() || !ValidDigest(digest->get<std::string>())) {
    return Err(Status::Invalid(where + ".digest must be sha256:<64 hex>"));
  }
  d.digest = digest->get<std::string>();
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer() || size->get<int64_t>() < 0) {
    return Err(Status::Invalid(where + ".size must be a non-negative integer"));
  }
  d.size = size->get<int64_t>();
  if (auto mt = j.find("mediaType"); mt != j.end()) {
    if (!mt->is_string()) return Err(Status::Invalid(where + ".mediaType must be a string"));
    d.media_type = mt->get<std::string>();
  }
  return d;
}

// A list of strings, or null/absent (empty). Anything else is an error.
Result<std::vector<std::string>> StringList(const json& obj, const char* key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) return Err(Status::Invalid(std::string("image config ") + key + " must be a list of strings"));
  for (const auto& v : *it) {
    if (!v.is_string()) return Err(Status::Invalid(std::string("image config ") + key + " must be a list of strings"));
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::string OptString(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

bool IsIndexMediaType(const std::string& t) { return t == kMediaDockerList || t == kMediaOciIndex; }

std::string ManifestMediaType(const json& j, const std::string& header_type) {
  std::string t = OptString(j, "mediaType");
  if (!t.empty()) return t;
  if (!header_type.empty()) return header_type;
  return j.contains("manifests") ? kMediaOciIndex : kMediaOciManifest;
}

Result<Manifest> ParseManifest(const std::string& body) {
  auto j = ParseJson(body, "manifest");
  if (!j) return Err(j.error());
  if (auto v = j->find("schemaVersion"); v == j->end() || *v != 2) {
    return Err(Status::Invalid("manifest schemaVersion must be 2 (schema 1 is not supported)"));
  }
  Manifest m;
  auto config = j->find("config");
  if (config == j->end()) return Err(Status::Invalid("manifest has no config"));
  auto c = ParseDescriptor(*config, "manifest config");
  if (!c) return Err(c.error());
  m.config = *c;
  auto layers = j->find("layers");
  if (layers == j->end() || !layers->is_array()) return Err(Status::Invalid("manifest layers must be a list"));
  if (layers->size() > kMaxLayers) return Err(Status::Invalid("manifest has more than 512 layers"));
  for (size_t i = 0; i < layers->size(); ++i) {
    auto d = ParseDescriptor((*layers)[i], "manifest layers[" + std::to_string(i) + "]");
    if (!d) return Err(d.error());
    m.layers.push_back(*d);
  }
  return m;
}

Result<Descriptor> SelectPlatform(const std::string& index_body) {
  auto j = ParseJson(index_body, "manifest list");
  if (!j) return Err(j.error());
  auto list = j->find("manifests");
  if (list == j->end() || !list->is_array()) return Err(Status::Invalid("manifest list has no manifests"));
  for (size_t i = 0; i < list->size(); ++i) {
    const json& e = (*list)[i];
    auto p = e.is_object() ? e.find("platform") : e.end();
    if (p == e.end() || !p->is_object()) continue;
    if (OptString(*p, "os") != "linux" || OptString(*p, "architecture") != "amd64") continue;
    return ParseDescriptor(e, "manifests[" + std::to_string(i) + "]");
  }
  return Err(Status::NotFound("the manifest list has no linux/amd64 image"));
}

Result<ImageConfig> ParseImageConfig(const std::string& body) {
  auto j = ParseJson(body, "image config");
  if (!j) return Err(j.error());
  ImageConfig c;
  c.architecture = OptString(*j, "architecture");
  c.os = OptString(*j, "os");
  if (auto rootfs = j->find("rootfs"); rootfs != j->end() && rootfs->is_object()) {
    auto ids = StringList(*rootfs, "diff_ids");
    if (!ids) return Err(ids.error());
    for (const auto& d : *ids) {
      if (!ValidDigest(d)) return Err(Status::Invalid("image config rootfs.diff_ids holds a bad digest"));
    }
    c.diff_ids = *ids;
  }
  auto cfg = j->find("config");
  if (cfg == j->end() || cfg->is_null()) return c;
  if (!cfg->is_object()) return Err(Status::Invalid("image config .config must be an object"));
  for (auto [key, out] : {std::pair{"Env", &c.env}, {"Entrypoint", &c.entrypoint}, {"Cmd", &c.cmd}}) {
    auto v = StringList(*cfg, key);
    if (!v) return Err(v.error());
    *out = *v;
  }
  c.working_dir = OptString(*cfg, "WorkingDir");
  c.user = OptString(*cfg, "User");
  if (auto ports = cfg->find("ExposedPorts"); ports != cfg->end() && ports->is_object()) {
    for (const auto& [port, _] : ports->items()) c.exposed_ports.push_back(port);
  }
  if (auto labels = cfg->find("Labels"); labels != cfg->end() && labels->is_object()) {
    for (const auto& [k, v] : labels->items()) {
      if (v.is_string()) c.labels[k] = v.get<std::string>();
    }
  }
  return c;
}

json ConfigToJson(const ImageConfig& c) {
  return json{{"env", c.env},     {"entrypoint", c.entrypoint}, {"cmd", c.cmd},
              {"working_dir", c.working_dir}, {"user", c.user}, {"exposed_ports", c.exposed_ports},
              {"labels", c.labels}, {"diff_ids", c.diff_ids}, {"architecture", c.architecture},
              {"os", c.os}};
}

Result<ImageConfig> ConfigFromJson(const json& j) {
  // Our own record: re-validated through the same parser as a registry's config.
  if (!j.is_object()) return Err(Status::Invalid("image config record is not an object"));
  json docker = {{"architecture", OptString(j, "architecture")},
                 {"os", OptString(j, "os")},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", j.value("diff_ids", json::array())}}},
                 {"config",
                  {{"Env", j.value("env", json::array())},
                   {"Entrypoint", j.value("entrypoint", json::array())},
                   {"Cmd", j.value("cmd", json::array())},
                   {"WorkingDir", OptString(j, "working_dir")},
                   {"User", OptString(j, "user")},
                   {"Labels", j.value("labels", json::object())}}}};
  json ports = json::object();
  for (const auto& p : j.value("exposed_ports", json::array())) {
    if (p.is_string()) ports[p.get<std::string>()] = json::object();
  }
  docker["config"]["ExposedPorts"] = ports;
  return ParseImageConfig(docker.dump());
}

}  // namespace zunvm::image
