// The WWW-Authenticate challenge of a registry's 401 (RFC 7235 auth-params):
// `Bearer realm="...",service="...",scope="..."` -> {scheme: "bearer", realm, service, scope}.
// The header is the registry's, i.e. hostile: anything parses to some map (keys lower-cased,
// quoted values unquoted); an unterminated quote ends the parse. Pure function.
#pragma once

#include <map>
#include <string>

namespace zunvm::image {

std::map<std::string, std::string> ParseChallenge(const std::string& header);

}  // namespace zunvm::image
