#include "image/auth_challenge.h"

#include "common/strings.h"

namespace zunvm::image {

std::map<std::string, std::string> ParseChallenge(const std::string& header) {
  std::map<std::string, std::string> out;
  size_t sp = header.find(' ');
  if (sp == std::string::npos) return out;
  out["scheme"] = ToLower(header.substr(0, sp));
  std::string rest = header.substr(sp + 1);
  size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == ',')) ++i;
    size_t eq = rest.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = ToLower(rest.substr(i, eq - i));
    std::string value;
    size_t j = eq + 1;
    if (j < rest.size() && rest[j] == '"') {
      size_t end = rest.find('"', j + 1);
      if (end == std::string::npos) break;
      value = rest.substr(j + 1, end - j - 1);
      i = end + 1;
    } else {
      size_t end = rest.find(',', j);
      value = rest.substr(j, end == std::string::npos ? std::string::npos : end - j);
      i = end == std::string::npos ? rest.size() : end;
    }
    out[key] = value;
  }
  return out;
}

}  // namespace zunvm::image
