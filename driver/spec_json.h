// SandboxSpec and SandboxNic <-> JSON, for the drivers that persist their specs.
// SpecFromJson throws nlohmann::json exceptions on a bad shape (callers catch at their edge);
// fields missing from older files take their defaults.
#pragma once

#include <nlohmann/json.hpp>

#include "driver/driver.h"

namespace zunvm {

nlohmann::json SpecToJson(const SandboxSpec& s);
SandboxSpec SpecFromJson(const nlohmann::json& j);
nlohmann::json NicToJson(const SandboxNic& n);
SandboxNic NicFromJson(const nlohmann::json& j);

}  // namespace zunvm
