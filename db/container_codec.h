// The storage codec of container records: the whole record as JSON (the `data` column of
// the containers table). Statuses, task states and health are stored as Zun's strings, so the
// database reads the same as before they were enums.
#pragma once

#include <nlohmann/json.hpp>

#include "model/container.h"

namespace zunvm {

nlohmann::json ToStorageJson(const Container& c);
// Throws nlohmann::json exceptions on malformed input; callers at the DB edge catch them. An
// unknown status reads as Unknown, an unknown task state or health as none.
Container FromStorageJson(const nlohmann::json& j);

}  // namespace zunvm
