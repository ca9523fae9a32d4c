#include "common/base64.h"

#include <openssl/evp.h>


namespace zunvm {

std::string Base64Encode(const std::string& raw) {
  std::string out(4 * ((raw.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

namespace {

// 0: invalid, 1: alphabet or '=', 2: whitespace (skipped).
struct Classes {
  unsigned char c[256] = {};
  constexpr Classes() {
    for (int i = 'A'; i <= 'Z'; ++i) c[i] = 1;
    for (int i = 'a'; i <= 'z'; ++i) c[i] = 1;
    for (int i = '0'; i <= '9'; ++i) c[i] = 1;
    c[static_cast<int>('+')] = c[static_cast<int>('/')] = c[static_cast<int>('=')] = 1;
    for (char w : {' ', '\t', '\n', '\r', '\v', '\f'}) c[static_cast<unsigned char>(w)] = 2;
  }
};
constexpr Classes kClasses;

}  // namespace

std::optional<std::string> Base64Decode(const std::string& text) {
  bool spaces = false;
  for (unsigned char c : text) {
    if (kClasses.c[c] == 0) return std::nullopt;
    spaces |= kClasses.c[c] == 2;
  }
  std::string stripped;
  if (spaces) {
    stripped.reserve(text.size());
    for (unsigned char c : text) {
      if (kClasses.c[c] == 1) stripped.push_back(static_cast<char>(c));
    }
  }
  const std::string& clean = spaces ? stripped : text;
  if (clean.size() % 4 != 0) return std::nullopt;
  if (clean.empty()) return std::string();
  size_t pad = 0;
  if (clean.back() == '=') ++pad;
  if (clean.size() >= 2 && clean[clean.size() - 2] == '=') ++pad;
  // '=' anywhere but the last two places is invalid.
  if (clean.find('=') < clean.size() - pad) return std::nullopt;
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

}  // namespace zunvm
