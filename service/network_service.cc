#include "service/network_service.h"

#include <set>

#include "common/ipv4.h"
#include "network/host_network.h"

namespace zunvm {

using nlohmann::json;

Status NetworkService::Init() {
  auto r = FindOrMake(cfg_.default_network);
  return r ? Status::Ok() : r.error();
}

Result<std::vector<NetRequest>> NetworkService::ParseNets(const json& nets) {
  std::vector<NetRequest> out;
  if (!nets.is_array()) return out;
  for (const auto& n : nets) {
    if (n.contains("port") && !n["port"].get<std::string>().empty()) {
      return Err(Status::Invalid("Neutron ports (nets: port) need the OpenStack driver; name a "
                                 "zunvmd network with nets: network instead.",
                                 "InvalidValue"));
    }
    if (n.contains("v6-fixed-ip") && !n["v6-fixed-ip"].get<std::string>().empty()) {
      return Err(Status::Invalid("zunvmd networks are IPv4 only.", "InvalidValue"));
    }
    NetRequest r;
    r.network = n.value("network", "");
    if (r.network.empty()) return Err(Status::Invalid("Each of nets needs a network.", "InvalidValue"));
    if (r.network.size() > 255) return Err(Status::Invalid("A network name is at most 255 characters.", "InvalidValue"));
    std::string ip = n.value("v4-fixed-ip", "");
    if (!ip.empty()) r.fixed_ip = ip;
    out.push_back(std::move(r));
  }
  return out;
}

Result<NetworkRecord> NetworkService::FindOrMake(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = store_->Get(name);
  if (found || found.error().code() != Code::kNotFound) return found;
  if (name == cfg_.default_network) return store_->Create(name, cfg_.default_subnet);
  auto pool = ParseIpv4Subnet(cfg_.subnet_pool);
  if (!pool) return Err(pool.error());
  auto all = store_->All();
  if (!all) return Err(all.error());
  std::set<std::string> used;
  for (const auto& n : *all) used.insert(n.subnet);
  for (uint64_t base = pool->base; base <= pool->Broadcast(); base += 256) {
    Ipv4Subnet s{static_cast<uint32_t>(base), 24};
    if (!used.count(s.ToString())) return store_->Create(name, s.ToString());
  }
  return Err(Status(Code::kUnavailable, "No free /24 is left in [network] subnet_pool " + cfg_.subnet_pool + ".",
                    "NoMoreIpAddresses"));
}

Result<SandboxNic> NetworkService::NicFor(const IpAllocation& a) {
  auto net = store_->Get(a.network_uuid);
  if (!net) return Err(net.error());
  auto subnet = ParseIpv4Subnet(net->subnet);
  if (!subnet) return Err(Status::Internal("stored subnet is damaged: " + net->subnet));
  SandboxNic nic;
  nic.port_id = a.port_id;
  nic.network_uuid = a.network_uuid;
  nic.netns = NetnsName(a.network_uuid);
  nic.mac = a.mac;
  nic.address = a.address;
  nic.prefix_len = subnet->prefix;
  nic.gateway = net->gateway;
  nic.mtu = cfg_.network_mtu;
  return nic;
}

Result<std::vector<SandboxNic>> NetworkService::Allocate(const std::string& container_uuid,
                                                         const std::vector<NetRequest>& nets) {
  std::vector<NetRequest> wanted = nets;
  if (wanted.empty()) wanted.push_back({cfg_.default_network, std::nullopt});
  std::vector<SandboxNic> out;
  for (const auto& r : wanted) {
    auto net = FindOrMake(r.network);
    Result<IpAllocation> a = net ? store_->Allocate(net->uuid, container_uuid, r.fixed_ip)
                                 : Result<IpAllocation>(Err(net.error()));
    Result<SandboxNic> nic = a ? NicFor(*a) : Result<SandboxNic>(Err(a.error()));
    if (!nic) {
      (void)store_->ReleaseContainer(container_uuid);
      return Err(nic.error());
    }
    for (const auto& have : out) {
      if (have.network_uuid == nic->network_uuid) {
        (void)store_->ReleaseContainer(container_uuid);
        return Err(Status::Invalid("Network " + r.network + " is requested twice.", "InvalidValue"));
      }
    }
    out.push_back(*nic);
  }
  return out;
}

Result<SandboxNic> NetworkService::AllocateOne(const std::string& container_uuid, const NetRequest& r) {
  auto net = FindOrMake(r.network);
  if (!net) return Err(net.error());
  auto have = NicsOf(container_uuid);
  if (!have) return Err(have.error());
  for (const auto& n : *have) {
    if (n.network_uuid == net->uuid) {
      return Err(Status::Conflict("The container is already attached to network " + r.network + ".",
                                  "InvalidValue"));
    }
  }
  auto a = store_->Allocate(net->uuid, container_uuid, r.fixed_ip);
  if (!a) return Err(a.error());
  auto nic = NicFor(*a);
  if (!nic) (void)store_->Release(a->port_id);
  return nic;
}

Result<std::vector<SandboxNic>> NetworkService::NicsOf(const std::string& container_uuid) {
  auto allocs = store_->ForContainer(container_uuid);
  if (!allocs) return Err(allocs.error());
  std::vector<SandboxNic> out;
  for (const auto& a : *allocs) {
    auto nic = NicFor(a);
    if (!nic) return Err(nic.error());
    out.push_back(*nic);
  }
  return out;
}

Status NetworkService::ReleaseContainer(const std::string& container_uuid) {
  return store_->ReleaseContainer(container_uuid);
}

Status NetworkService::ReleasePort(const std::string& port_id) { return store_->Release(port_id); }

json NetworkService::Addresses(const std::vector<SandboxNic>& nics) {
  json out = json::object();
  for (const auto& n : nics) {
    out[n.network_uuid].push_back({{"addr", n.address},
                                   {"version", 4},
                                   {"port", n.port_id},
                                   {"subnet_id", n.network_uuid},
                                   {"preserve_on_delete", false}});
  }
  return out;
}

}  // namespace zunvm
