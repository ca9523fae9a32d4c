#include "rest/query.h"

#include "common/strings.h"

namespace zunvm {

Result<std::map<std::string, std::string>> ParseQuery(const std::string& raw) {
  std::map<std::string, std::string> out;
  if (raw.empty()) return out;
  for (const std::string& part : Split(raw, '&')) {
    if (part.empty()) continue;
    auto eq = part.find('=');
    auto key = PercentDecode(part.substr(0, eq), true);
    auto value = eq == std::string::npos ? std::optional<std::string>("")
                                         : PercentDecode(part.substr(eq + 1), true);
    if (!key || !value) return Err(Status::Invalid("Malformed query string."));
    if (!IsValidUtf8(*key) || !IsValidUtf8(*value) || key->find('\0') != std::string::npos ||
        value->find('\0') != std::string::npos) {
      return Err(Status::Invalid("Query string is not valid UTF-8 text."));
    }
    out.emplace(*key, *value);
  }
  return out;
}

}  // namespace zunvm
