// limit / marker / sort_key / sort_dir handling shared by the collection endpoints.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "common/status.h"

namespace zunvm {

struct Pagination {
  int limit = 1000;
  std::optional<std::string> marker;
  std::string sort_key;
  bool descending = false;
};

// Reads and removes the pagination keys from `query`. InvalidArgument on a bad limit or dir.
Result<Pagination> TakePagination(std::map<std::string, std::string>& query, int max_limit,
                                  const std::string& default_sort_key);
// The `next` link of a full page.
std::string NextUrl(const std::string& base_url, const std::string& collection,
                    const Pagination& p, const std::string& last_id);
// Reads and removes a boolean_extended parameter; InvalidArgument names it.
Result<bool> TakeBool(std::map<std::string, std::string>& query, const std::string& key,
                      bool default_value);
Result<bool> ParseBoolParam(const std::optional<std::string>& value, const std::string& key,
                            bool default_value);

}  // namespace zunvm
