// The JSON-schema half of a capsule template (Zun's parameter_types.capsule_*): one container
// item (spec.containers[] and spec.initContainers[]) and spec.volumes, checked field by field
// and read into plain structs, plus the small checks rest/capsule_template.cc shares. That file
// does the rest: the template's top level, Zun's semantic checks (check_capsule_template,
// capsule_get_*_spec) and _do_post's transformation into Container records.
//
// Internal to rest/capsule_template.cc (and its tests).
//
// Errors are 400 Status values (SchemaValidationError in create_schema.h's wording,
// InvalidCapsuleTemplate); wrong types anywhere are errors, nothing throws.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/ids.h"
#include "common/status.h"
#include "common/strings.h"
#include "model/capsule.h"
#include "rest/create_schema.h"

namespace zunvm::capsule_detail {

using json = nlohmann::json;

struct TemplatePort {
  int container_port = 0;
  std::string protocol = "tcp";  // lower case
};

struct TemplateMount {
  std::string volume;  // a spec.volumes name
  std::string path;    // mountPath
  bool read_only = false;
};

// A container item as the template gives it (Kubernetes-style keys, Zun's subset).
struct TemplateContainer {
  std::optional<std::string> name;  // Zun checks it, then names the member itself
  std::string image;
  std::optional<std::vector<std::string>> command;
  std::optional<std::vector<std::string>> args;
  std::optional<double> cpu;      // resources.requests.cpu
  std::optional<int64_t> memory;  // resources.requests.memory, MiB
  bool has_ports = false;         // `ports` given (even empty)
  std::vector<TemplatePort> ports;
  std::vector<TemplateMount> mounts;
  std::map<std::string, std::string> env;
  std::optional<std::string> workdir;
  std::optional<std::string> image_pull_policy;  // as given (any case)
  bool stdin = false;
  bool tty = false;
};

// The checks rest/capsule_template.cc shares (rest/capsule_schema.cc).
Status InvalidTemplate(const std::string& reason);
Status OnlyKeys(const json& obj, std::initializer_list<const char*> keys);
bool IsContainerName(const std::string& s);
Result<std::map<std::string, std::string>> StringMap(const std::string& field, const json& v);
// One container item (spec.containers[] / spec.initContainers[]); `where` names it in messages.
Result<TemplateContainer> ParseTemplateContainer(const json& item, const std::string& where, const Config& cfg);
Result<std::vector<CapsuleVolume>> ParseTemplateVolumes(const json& volumes, const Config& cfg);

}  // namespace zunvm::capsule_detail
