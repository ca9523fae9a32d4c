// Base64 (standard alphabet, padded) over OpenSSL's EVP encoder. Pure, thread-safe.
#pragma once

#include <optional>
#include <string>

namespace zunvm {

std::string Base64Encode(const std::string& raw);
// nullopt on characters outside the alphabet or a bad length. Whitespace/newlines are allowed.
std::optional<std::string> Base64Decode(const std::string& text);

}  // namespace zunvm
