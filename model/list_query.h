// ListQuery: one page of a container listing, as the API asks for it: exact-match filters on
// the filterable fields, one sort key and direction, a page size and a marker.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace zunvm {

struct ListQuery {
  std::map<std::string, std::string> filters;  // field -> value (exact match)
  std::string sort_key = "id";
  bool descending = false;
  int limit = 1000;
  std::optional<std::string> marker;           // uuid of the last item of the previous page

  static const std::vector<std::string>& FilterKeys();  // name image project_id ...
  static bool IsSortKey(const std::string& key);
  // InvalidArgument for a sort key or filters that are not the fields above (every unknown
  // filter is named), or a non-boolean auto_remove filter. The one check of a listing: the
  // store builds its SQL only from a query that passed it.
  Status Validate() const;
};

}  // namespace zunvm
