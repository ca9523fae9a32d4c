#include "common/ids.h"

#include <openssl/rand.h>
#include <uuid/uuid.h>

#include <array>
#include <cctype>
#include <cstdio>

namespace zunvm {

std::string NewUuid() {
  uuid_t u;
  uuid_generate_random(u);
  char out[37];
  uuid_unparse_lower(u, out);
  return out;
}

std::string NewRequestId() { return "req-" + NewUuid(); }

bool IsUuidLike(const std::string& s) {
  std::string hex;
  for (char c : s) {
    if (c == '-') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    hex.push_back(c);
  }
  return hex.size() == 32 && (s.size() == 32 || s.size() == 36);
}

std::string CanonicalUuid(const std::string& s) {
  if (!IsUuidLike(s)) return "";
  std::string hex;
  for (char c : s) {
    if (c != '-') hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    // RAND_bytes only fails without entropy; fall back to libuuid's generator.
    for (size_t i = 0; i < bytes; i += 16) {
      uuid_t u;
      uuid_generate_random(u);
      for (size_t j = 0; j < 16 && i + j < bytes; ++j) raw[i + j] = static_cast<char>(u[j]);
    }
  }
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string GenerateContainerName() {
  static const std::array<const char*, 24> kLetters = {
      "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
      "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi",
      "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega"};
  unsigned char r[2];
  if (RAND_bytes(r, 2) != 1) r[0] = r[1] = 0;
  return std::string(kLetters[r[0] % kLetters.size()]) + "-" + std::to_string(r[1] % 24 + 1) +
         "-container";
}

bool ValidIfName(const std::string& n) {
  if (n.empty() || n.size() > 15 || n == "." || n == "..") return false;
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool ValidMac(const std::string& m) {
  if (m.size() != 17) return false;
  for (size_t i = 0; i < m.size(); ++i) {
    if (i % 3 == 2 ? m[i] != ':' : !std::isxdigit(static_cast<unsigned char>(m[i]))) return false;
  }
  int first = std::stoi(m.substr(0, 2), nullptr, 16);
  return (first & 1) == 0;  // not multicast
}

}  // namespace zunvm
