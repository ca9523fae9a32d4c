// Image manifests and configs, parsed from untrusted JSON (registries, archives): Docker v2
// schema 2 and OCI image manifests, manifest lists / OCI indexes (resolved to linux/amd64),
// and the image config's container defaults. Every field is type-checked and every digest
// validated; anything malformed is InvalidArgument (NotFound when an index has no
// linux/amd64 entry). Value types, no shared state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace zunvm::image {

inline constexpr char kMediaDockerManifest[] = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr char kMediaDockerList[] = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr char kMediaOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
inline constexpr char kMediaOciIndex[] = "application/vnd.oci.image.index.v1+json";

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
};

struct Manifest {
  Descriptor config;
  std::vector<Descriptor> layers;  // lowest first
};

// The container defaults and identity an image config carries.
struct ImageConfig {
  std::vector<std::string> env, entrypoint, cmd;
  std::string working_dir, user;
  std::vector<std::string> exposed_ports;  // "80/tcp"
  std::map<std::string, std::string> labels;
  std::vector<std::string> diff_ids;       // sha256 of each uncompressed layer, lowest first
  std::string architecture, os;
};

bool IsIndexMediaType(const std::string& media_type);
// The manifest's media type from its JSON (`mediaType`), or `header_type` when the JSON has
// none (OCI manifests may omit it).
std::string ManifestMediaType(const nlohmann::json& j, const std::string& header_type);
Result<Manifest> ParseManifest(const std::string& body);
// The linux/amd64 manifest's descriptor in an index or manifest list.
Result<Descriptor> SelectPlatform(const std::string& index_body);
Result<ImageConfig> ParseImageConfig(const std::string& body);
nlohmann::json ConfigToJson(const ImageConfig& c);  // what the image record keeps
Result<ImageConfig> ConfigFromJson(const nlohmann::json& j);

}  // namespace zunvm::image
