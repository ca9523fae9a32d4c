// The create-container body schema, per microversion (Zun's containers schema): strict
// (unknown keys are 400), types and ranges checked, defaults from the config applied, and the
// result is a Container the service can store. Also the PATCH body and the shared field
// parsers used by other actions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/status.h"
#include "rest/microversion.h"
#include "model/container.h"
#include "service/container_service.h"

namespace zunvm {

// SchemaValidationError (400) / InvalidParamInVersion (400) / PolicyNotAuthorized (403).
Result<Container> ParseCreateBody(const nlohmann::json& body, const ApiVersion& v,
                                  const Config& cfg);
// PATCH body: cpu, memory, name (1.14+), auto_heal.
Result<ContainerPatch> ParsePatchBody(const nlohmann::json& body, const ApiVersion& v,
                                      const Config& cfg);
// resize_container parameters (strings from query or body).
Result<ContainerPatch> ParseResizeParams(const std::optional<std::string>& cpu,
                                         const std::optional<std::string>& memory,
                                         const Config& cfg);
Status ValidateContainerName(const std::string& name);
// The 400 SchemaValidationError of a field: "Invalid input for field/attribute <field>. Value:
// <value, at most 200 characters>. <why>".
Status SchemaError(const std::string& field, const nlohmann::json& value, const std::string& why);
// The 400 SchemaValidationError of an unknown key: "Additional properties are not allowed
// ('<key>' was unexpected)".
Status AdditionalProperty(const std::string& key);
// 400 unless `name` is one of [DEFAULT] runtimes (naming them) and this host can run it.
Status CheckRuntime(const Config& cfg, const std::string& name);
// A JSON object of strings / an array of strings (SchemaValidationError naming field `f`).
Result<std::map<std::string, std::string>> StringMap(const std::string& f, const nlohmann::json& v);
Result<std::vector<std::string>> StringList(const std::string& f, const nlohmann::json& v);

}  // namespace zunvm
