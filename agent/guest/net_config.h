// The guest's network, as zunvmd describes it: each NIC (found by its MAC) gets its address,
// netmask and MTU and is brought up, loopback is up, the default route goes via the gateway;
// the container's /etc/hosts, /etc/resolv.conf and /etc/hostname are written from the same
// description. Containers share the VM's network namespace (as in a Kata sandbox), so this
// is done once per VM, in the agent's namespace.
//
// Uses ioctl(2) on an AF_INET socket only (no netlink, no /sys: it works in whatever network
// namespace the caller is in). Errors: NotFound (no NIC with that MAC), InvalidArgument (bad
// address or prefix), Internal (an ioctl failed, with errno). Thread safety: none needed.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace zunvm::agent {

struct NicSettings {
  std::string mac;   // "52:54:00:0a:0b:0c", any case
  std::string cidr;  // "10.88.0.2/24"
  int mtu = 0;       // 0: leave as is
};

struct NetworkSettings {
  std::vector<NicSettings> nics;
  std::string gateway;                 // default route via this address; empty: none
  std::string hostname;                // empty: leave /etc/hostname alone
  std::vector<std::string> hosts;      // extra /etc/hosts lines ("10.88.0.3 web")
  std::vector<std::string> dns;        // nameservers for /etc/resolv.conf; empty: leave it
};

// Returns the interface names configured, in the order of `s.nics`.
Result<std::vector<std::string>> ApplyNetwork(const NetworkSettings& s);
// The text of /etc/hosts and /etc/resolv.conf for `s` (written by the caller into the
// container's root, through its confined file helpers).
std::string HostsFile(const NetworkSettings& s);
std::string ResolvConf(const NetworkSettings& s);

}  // namespace zunvm::agent
