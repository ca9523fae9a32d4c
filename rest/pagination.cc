#include "rest/pagination.h"

#include "common/strings.h"

namespace zunvm {

Result<Pagination> TakePagination(std::map<std::string, std::string>& query, int max_limit,
                                  const std::string& default_sort_key) {
  Pagination p;
  p.limit = max_limit;
  p.sort_key = default_sort_key;
  if (auto it = query.find("limit"); it != query.end()) {
    auto n = ParseInt(it->second);
    if (!n || *n <= 0) return Err(Status::Invalid("Limit must be positive integer"));
    p.limit = static_cast<int>(std::min<long long>(*n, max_limit));
    query.erase(it);
  }
  if (auto it = query.find("marker"); it != query.end()) {
    p.marker = it->second;
    query.erase(it);
  }
  if (auto it = query.find("sort_key"); it != query.end()) {
    p.sort_key = it->second;
    query.erase(it);
  }
  if (auto it = query.find("sort_dir"); it != query.end()) {
    std::string d = ToLower(it->second);
    if (d != "asc" && d != "desc") {
      return Err(Status::Invalid("Invalid sort direction: " + it->second +
                                 ". Acceptable values are 'asc' or 'desc'"));
    }
    p.descending = d == "desc";
    query.erase(it);
  }
  return p;
}

std::string NextUrl(const std::string& base_url, const std::string& collection,
                    const Pagination& p, const std::string& last_id) {
  return base_url + "/v1/" + collection + "?sort_key=" + PercentEncode(p.sort_key) +
         "&sort_dir=" + (p.descending ? "desc" : "asc") + "&limit=" + std::to_string(p.limit) +
         "&marker=" + PercentEncode(last_id);
}

Result<bool> ParseBoolParam(const std::optional<std::string>& value, const std::string& key,
                            bool default_value) {
  if (!value) return default_value;
  auto b = ParseBoolExtended(*value);
  if (!b) {
    return Err(Status::Invalid("Invalid input for query parameters " + key + ". Value: " +
                               *value + ". Expected a boolean."));
  }
  return *b;
}

Result<bool> TakeBool(std::map<std::string, std::string>& query, const std::string& key,
                      bool default_value) {
  auto it = query.find(key);
  if (it == query.end()) return default_value;
  auto b = ParseBoolParam(it->second, key, default_value);
  query.erase(it);
  return b;
}

}  // namespace zunvm
