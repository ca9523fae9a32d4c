// Small string helpers shared by the API and the service. Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zunvm {

// "ContainerNotFound" -> "container-not-found".
std::string KebabCase(std::string_view camel);
std::string ToLower(std::string_view s);
std::string Trim(std::string_view s);
std::vector<std::string> Split(std::string_view s, char sep);
bool StartsWith(std::string_view s, std::string_view prefix);
bool IsValidUtf8(std::string_view s);
// Percent-decoding of a URL component; `plus_is_space` for query strings. nullopt on a bad
// escape.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space);
std::string PercentEncode(std::string_view s);
// oslo "boolean_extended": true/t/1/on/y/yes and false/f/0/off/n/no, any case.
std::optional<bool> ParseBoolExtended(std::string_view s);
// Strict: "true"/"True"/"TRUE" style only (execute's run/interactive).
std::optional<bool> ParseBoolStrict(std::string_view s);
// Whole-string integer / float parses; nullopt on junk, overflow, empty.
std::optional<long long> ParseInt(std::string_view s);
std::optional<double> ParseDouble(std::string_view s);
std::string Join(const std::vector<std::string>& parts, std::string_view sep);

}  // namespace zunvm
