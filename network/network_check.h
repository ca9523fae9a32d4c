// The network's part of the host check (common/host_check.h): iproute2 can make a network
// namespace with a bridge in it (every container network is one), nftables answers when NAT
// is on, and Open vSwitch has the bridge named for Neutron ports. The probe namespace is
// removed again. Thread safety: any thread.
#pragma once

#include <string>
#include <vector>

#include "common/host_check.h"

namespace zunvm {

struct NetworkCheckInput {
  bool nat = false;        // [network] nat
  std::string ovs_bridge;  // [network] ovs_bridge (OpenStack mode)
};

std::vector<CheckItem> CheckNetworkHost(const NetworkCheckInput& in);

}  // namespace zunvm
