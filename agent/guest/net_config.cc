#include "agent/guest/net_config.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/fs_at.h"
#include "common/ipv4.h"
#include "common/strings.h"

namespace zunvm::agent {
namespace {

Status Errno(const std::string& what) {
  return Status::Internal(what + ": " + std::strerror(errno));
}

// The interface whose hardware address is `mac`, by walking if_nameindex().
Result<std::string> IfnameForMac(int sock, const std::string& mac) {
  std::string want = ToLower(mac);
  struct if_nameindex* list = ::if_nameindex();
  if (!list) return Err(Errno("if_nameindex"));
  std::string found;
  for (auto* i = list; i->if_index != 0 && found.empty(); ++i) {
    struct ifreq r {};
    std::strncpy(r.ifr_name, i->if_name, IFNAMSIZ - 1);
    if (::ioctl(sock, SIOCGIFHWADDR, &r) != 0) continue;
    const auto* b = reinterpret_cast<const unsigned char*>(r.ifr_hwaddr.sa_data);
    char text[18];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
    if (want == text) found = i->if_name;
  }
  ::if_freenameindex(list);
  if (found.empty()) return Err(Status::NotFound("no network interface has MAC " + mac));
  return found;
}

Result<in_addr> Addr(const std::string& text) {
  auto a = ParseIpv4(text);
  if (!a) return Err(a.error());
  in_addr out{};
  out.s_addr = htonl(*a);
  return out;
}

void SetSockaddr(sockaddr* sa, in_addr a) {
  auto* in = reinterpret_cast<sockaddr_in*>(sa);
  in->sin_family = AF_INET;
  in->sin_addr = a;
}

Status Up(int sock, const std::string& ifname) {
  struct ifreq r {};
  std::strncpy(r.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  if (::ioctl(sock, SIOCGIFFLAGS, &r) != 0) return Errno("SIOCGIFFLAGS " + ifname);
  r.ifr_flags = static_cast<short>(r.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(sock, SIOCSIFFLAGS, &r) != 0) return Errno("SIOCSIFFLAGS " + ifname);
  return Status::Ok();
}

Status Configure(int sock, const std::string& ifname, const NicSettings& n) {
  auto cidr = ParseIpv4Cidr(n.cidr);
  if (!cidr) return cidr.error();
  if (cidr->prefix < 1) return Status::Invalid("bad prefix length in " + n.cidr);
  in_addr addr{}, mask{};
  addr.s_addr = htonl(cidr->base);
  mask.s_addr = htonl(cidr->Mask());

  struct ifreq r {};
  std::strncpy(r.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  if (n.mtu > 0) {
    r.ifr_mtu = n.mtu;
    if (::ioctl(sock, SIOCSIFMTU, &r) != 0) return Errno("SIOCSIFMTU " + ifname);
  }
  SetSockaddr(&r.ifr_addr, addr);
  if (::ioctl(sock, SIOCSIFADDR, &r) != 0) return Errno("SIOCSIFADDR " + ifname);
  SetSockaddr(&r.ifr_netmask, mask);
  if (::ioctl(sock, SIOCSIFNETMASK, &r) != 0) return Errno("SIOCSIFNETMASK " + ifname);
  return Up(sock, ifname);
}

Status DefaultRoute(int sock, const std::string& gateway) {
  auto gw = Addr(gateway);
  if (!gw) return gw.error();
  struct rtentry rt {};
  SetSockaddr(&rt.rt_dst, in_addr{});
  SetSockaddr(&rt.rt_genmask, in_addr{});
  SetSockaddr(&rt.rt_gateway, *gw);
  rt.rt_flags = RTF_UP | RTF_GATEWAY;
  if (::ioctl(sock, SIOCADDRT, &rt) != 0 && errno != EEXIST) return Errno("SIOCADDRT via " + gateway);
  return Status::Ok();
}

}  // namespace

Result<std::vector<std::string>> ApplyNetwork(const NetworkSettings& s) {
  fsat::UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) return Err(Errno("socket"));
  ZUNVM_RETURN_IF_ERROR(Up(sock.get(), "lo"));
  std::vector<std::string> names;
  for (const auto& n : s.nics) {
    auto ifname = IfnameForMac(sock.get(), n.mac);
    if (!ifname) return Err(ifname.error());
    ZUNVM_RETURN_IF_ERROR(Configure(sock.get(), *ifname, n));
    names.push_back(*ifname);
  }
  if (!s.gateway.empty()) ZUNVM_RETURN_IF_ERROR(DefaultRoute(sock.get(), s.gateway));
  return names;
}

}  // namespace zunvm::agent
