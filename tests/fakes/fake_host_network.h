// FakeHostNetwork: the HostNetwork of tests: namespaces, links and NAT kept in maps, nothing
// touched on the host. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "network/host_network.h"

namespace zunvm {

class FakeHostNetwork : public HostNetwork {
 public:
  Status EnsureNetwork(const std::string& netns, const std::string& gateway_cidr) override;
  Status RemoveNetwork(const std::string& netns) override;
  Status CreateTap(const std::string& tap) override;
  Status AttachToNetwork(const std::string& ifname, const std::string& netns) override;
  Status DeleteLink(const std::string& ifname, const std::string& netns) override;
  Status EnableNat(const std::string& netns, const std::string& subnet) override;
  Status DisableNat(const std::string& netns, const std::string& subnet) override;
  // The container's end is kept as "<container_netns>/<ifname>" in Links().
  Status PlugContainerNic(const ContainerNicPlug& nic) override;
  Status RemoveContainerNetns(const std::string& container_netns) override;
  Status RemoveOvsPort(const std::string& bridge, const std::string& ifname) override;

  // netns -> gateway; link -> namespace it is in ("" = host); netns -> NATed subnet.
  std::map<std::string, std::string> Networks();
  std::map<std::string, std::string> Links();
  std::map<std::string, std::string> Nat();

 private:
  std::mutex mu_;
  std::map<std::string, std::string> networks_;
  std::map<std::string, std::string> links_;
  std::map<std::string, std::string> nat_;
};

}  // namespace zunvm
