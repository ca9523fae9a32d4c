#include "model/list_query.h"

#include <algorithm>
#include <set>

#include "common/strings.h"

namespace zunvm {

const std::vector<std::string>& ListQuery::FilterKeys() {
  static const std::vector<std::string> keys = {"name", "image", "project_id", "user_id",
                                                "memory", "host", "task_state", "status",
                                                "auto_remove"};
  return keys;
}

bool ListQuery::IsSortKey(const std::string& key) {
  static const std::set<std::string> keys = {"id", "uuid", "name", "image", "status",
                                             "task_state", "memory", "cpu", "host",
                                             "project_id", "user_id", "auto_remove",
                                             "created_at", "updated_at"};
  return keys.count(key) > 0;
}

Status ListQuery::Validate() const {
  std::vector<std::string> unknown;
  for (const auto& [key, value] : filters) {
    if (std::find(FilterKeys().begin(), FilterKeys().end(), key) == FilterKeys().end()) unknown.push_back(key);
  }
  if (!unknown.empty()) return Status::Invalid("Unknown parameters: " + Join(unknown, ", "));
  if (!IsSortKey(sort_key)) return Status::Invalid("Invalid sort_key: " + sort_key + ".", "InvalidParameterValue");
  if (auto it = filters.find("auto_remove"); it != filters.end() && !ParseBoolExtended(it->second)) {
    return Status::Invalid("Invalid value for auto_remove: " + it->second);
  }
  return Status::Ok();
}

}  // namespace zunvm
