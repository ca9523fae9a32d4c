// The guest's network, as zunvmd describes it: each NIC (found by its MAC) gets its address,
// netmask and MTU and is brought up, loopback is up, the default route goes via the gateway.
// Containers share the VM's network namespace (as in a Kata sandbox), so this is done once
// per VM, in the agent's namespace; a container's /etc/hosts and resolv.conf come with
// create_container.
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
  std::string gateway;  // default route via this address; empty: none
};

// Returns the interface names configured, in the order of `s.nics`.
Result<std::vector<std::string>> ApplyNetwork(const NetworkSettings& s);

}  // namespace zunvm::agent
