// IPv4 addresses and subnets as numbers: parsing "a.b.c.d" and "a.b.c.d/len" strictly (no
// leading zeros, no shorthand), formatting, and the host range of a subnet.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace zunvm {

struct Ipv4Subnet {
  uint32_t base = 0;  // network address, host bits zero
  int prefix = 0;     // 0..32
  uint32_t Mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  bool Contains(uint32_t addr) const { return (addr & Mask()) == base; }
  uint32_t Broadcast() const { return base | ~Mask(); }
  // Usable host addresses: base+1 .. broadcast-1 (a /31 or /32 has none here).
  uint32_t FirstHost() const { return base + 1; }
  uint32_t LastHost() const { return Broadcast() - 1; }
  std::string ToString() const;
};

// InvalidArgument for anything but four decimal octets 0..255.
Result<uint32_t> ParseIpv4(const std::string& text);
std::string FormatIpv4(uint32_t addr);
// An address with its prefix length, "10.88.0.2/24" (host bits allowed): `base` is the address.
// InvalidArgument for a bad address or a length out of 0..32.
Result<Ipv4Subnet> ParseIpv4Cidr(const std::string& text);
// "10.88.0.0/24"; as ParseIpv4Cidr, and InvalidArgument when host bits are set.
Result<Ipv4Subnet> ParseIpv4Subnet(const std::string& text);

}  // namespace zunvm
