// Identifiers: random UUIDs (libuuid), request ids, generated container names.
// Thread safety: all functions are safe to call concurrently.
#pragma once

#include <string>

namespace zunvm {

std::string NewUuid();                    // lower-case 8-4-4-4-12
std::string NewRequestId();               // "req-" + uuid
bool IsUuidLike(const std::string& s);    // 32 hex digits, with or without the dashes
// The lower-case 8-4-4-4-12 form of a uuid-like string; empty when !IsUuidLike(s).
std::string CanonicalUuid(const std::string& s);
std::string RandomHex(size_t bytes);      // 2*bytes hex chars from OpenSSL's RAND_bytes
// Zun-style generated name: "<greek-letter>-<1..24>-container", e.g. "zeta-22-container".
std::string GenerateContainerName();
// A Linux interface name: 1..15 of [A-Za-z0-9_.-], not "." or "..".
bool ValidIfName(const std::string& n);
// A unicast MAC written xx:xx:xx:xx:xx:xx.
bool ValidMac(const std::string& m);

}  // namespace zunvm
