#include "common/ipv4.h"

namespace zunvm {

Result<uint32_t> ParseIpv4(const std::string& text) {
  auto bad = [&] { return Err(Status::Invalid("Invalid IPv4 address: " + text, "InvalidValue")); };
  uint32_t out = 0;
  int octets = 0;
  size_t i = 0;
  while (octets < 4) {
    size_t start = i;
    uint32_t v = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 3) {
      v = v * 10 + static_cast<uint32_t>(text[i] - '0');
      ++i;
    }
    size_t len = i - start;
    if (len == 0 || v > 255 || (len > 1 && text[start] == '0')) return bad();
    out = (out << 8) | v;
    ++octets;
    if (octets < 4) {
      if (i >= text.size() || text[i] != '.') return bad();
      ++i;
    }
  }
  if (i != text.size()) return bad();
  return out;
}

std::string FormatIpv4(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

std::string Ipv4Subnet::ToString() const { return FormatIpv4(base) + "/" + std::to_string(prefix); }

Result<Ipv4Subnet> ParseIpv4Cidr(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Err(Status::Invalid("Invalid IPv4 subnet " + text + ": " + why, "InvalidValue"));
  };
  auto slash = text.find('/');
  if (slash == std::string::npos) return bad("expected ADDRESS/LENGTH");
  auto addr = ParseIpv4(text.substr(0, slash));
  if (!addr) return bad("bad address");
  std::string len = text.substr(slash + 1);
  if (len.empty() || len.size() > 2 || (len.size() == 2 && len[0] == '0')) return bad("bad length");
  int prefix = 0;
  for (char c : len) {
    if (c < '0' || c > '9') return bad("bad length");
    prefix = prefix * 10 + (c - '0');
  }
  if (prefix > 32) return bad("length over 32");
  return Ipv4Subnet{*addr, prefix};
}

Result<Ipv4Subnet> ParseIpv4Subnet(const std::string& text) {
  auto s = ParseIpv4Cidr(text);
  if (!s) return s;
  if ((s->base & s->Mask()) != s->base) {
    return Err(Status::Invalid("Invalid IPv4 subnet " + text + ": host bits are set", "InvalidValue"));
  }
  return s;
}

}  // namespace zunvm
