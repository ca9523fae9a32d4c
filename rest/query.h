// Query-string parsing and typed parameter access for API handlers.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "common/status.h"

namespace zunvm {

// Decodes "a=1&b=x+y" (percent escapes, '+' as space). The first occurrence of a key wins.
// InvalidArgument on a bad escape or invalid UTF-8.
Result<std::map<std::string, std::string>> ParseQuery(const std::string& raw);

}  // namespace zunvm
