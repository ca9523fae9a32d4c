#include "tests/fakes/fake_host_network.h"

namespace zunvm {

Status FakeHostNetwork::EnsureNetwork(const std::string& netns, const std::string& gateway_cidr) {
  std::lock_guard<std::mutex> lock(mu_);
  networks_[netns] = gateway_cidr;
  return Status::Ok();
}

Status FakeHostNetwork::RemoveNetwork(const std::string& netns) {
  std::lock_guard<std::mutex> lock(mu_);
  networks_.erase(netns);
  for (auto it = links_.begin(); it != links_.end();) {
    it = it->second == netns ? links_.erase(it) : std::next(it);
  }
  return Status::Ok();
}

Status FakeHostNetwork::CreateTap(const std::string& tap) {
  std::lock_guard<std::mutex> lock(mu_);
  links_.emplace(tap, "");
  return Status::Ok();
}

Status FakeHostNetwork::AttachToNetwork(const std::string& ifname, const std::string& netns) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!networks_.count(netns)) return Status::Internal("no network namespace " + netns);
  auto it = links_.find(ifname);
  if (it == links_.end()) return Status::Internal("no link " + ifname);
  it->second = netns;
  return Status::Ok();
}

Status FakeHostNetwork::DeleteLink(const std::string& ifname, const std::string&) {
  std::lock_guard<std::mutex> lock(mu_);
  links_.erase(ifname);
  return Status::Ok();
}

Status FakeHostNetwork::EnableNat(const std::string& netns, const std::string& subnet) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!networks_.count(netns)) return Status::Internal("no network namespace " + netns);
  nat_[netns] = subnet;
  return Status::Ok();
}

Status FakeHostNetwork::DisableNat(const std::string& netns, const std::string&) {
  std::lock_guard<std::mutex> lock(mu_);
  nat_.erase(netns);
  return Status::Ok();
}

Status FakeHostNetwork::PlugContainerNic(const ContainerNicPlug& n) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!n.ovs_bridge.empty()) {
    links_[n.host_if] = "ovs:" + n.ovs_bridge;
    links_[n.container_netns + "/" + n.ifname] = n.container_netns;
    return Status::Ok();
  }
  if (!networks_.count(n.network_netns)) return Status::NotFound("no network namespace " + n.network_netns);
  links_[n.host_if] = n.network_netns;
  links_[n.container_netns + "/" + n.ifname] = n.container_netns;
  return Status::Ok();
}

Status FakeHostNetwork::RemoveContainerNetns(const std::string& container_netns) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = links_.begin(); it != links_.end();) {
    it = it->first.rfind(container_netns + "/", 0) == 0 ? links_.erase(it) : std::next(it);
  }
  return Status::Ok();
}

Status FakeHostNetwork::RemoveOvsPort(const std::string&, const std::string& ifname) {
  std::lock_guard<std::mutex> lock(mu_);
  links_.erase(ifname);
  return Status::Ok();
}

std::map<std::string, std::string> FakeHostNetwork::Nat() {
  std::lock_guard<std::mutex> lock(mu_);
  return nat_;
}

std::map<std::string, std::string> FakeHostNetwork::Networks() {
  std::lock_guard<std::mutex> lock(mu_);
  return networks_;
}

std::map<std::string, std::string> FakeHostNetwork::Links() {
  std::lock_guard<std::mutex> lock(mu_);
  return links_;
}

}  // namespace zunvm
