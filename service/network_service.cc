#include "service/network_service.h"

#include <fstream>
#include <set>
#include <sstream>

#include "common/ipv4.h"
#include "driver/spec_json.h"
#include "network/host_network.h"
#include "service/neutron_port.h"
#include "service/resolv_conf.h"
#include "service/zun_errors.h"

namespace zunvm {

using nlohmann::json;

Status NetworkService::Init() {
  std::ifstream in("/etc/resolv.conf");
  std::stringstream text;
  text << in.rdbuf();
  host_nameservers_ = ReachableNameservers(text.str());
  auto r = FindOrMake(cfg_.default_network, "");
  return r ? Status::Ok() : r.error();
}

std::string NetworkService::ResolvConf(const std::vector<SandboxNic>& nics) const {
  return BuildResolvConf(nics, cfg_.dns_nameservers.empty() ? host_nameservers_ : cfg_.dns_nameservers,
                         cfg_.dns_search);
}

Result<NetRequest> NetworkService::ParseNet(const json& n) const {
  if (IsNeutronPortEntry(n)) {
    auto nic = ParseNeutronPort(n, cfg_);
    if (!nic) return Err(nic.error());
    return NetRequest{nic->network_uuid, std::nullopt, *nic};
  }
  if (n.contains("v6-fixed-ip") && n["v6-fixed-ip"].is_string() && !n["v6-fixed-ip"].get<std::string>().empty()) {
    return Err(Status::Invalid("zunvmd networks are IPv4 only.", "InvalidValue"));
  }
  NetRequest r;
  if (n.contains("network") && n["network"].is_string()) r.network = n["network"].get<std::string>();
  if (r.network.empty()) return Err(Status::Invalid("Each of nets needs a network.", "InvalidValue"));
  if (r.network.size() > 255) return Err(Status::Invalid("A network name is at most 255 characters.", "InvalidValue"));
  if (n.contains("v4-fixed-ip") && n["v4-fixed-ip"].is_string() && !n["v4-fixed-ip"].get<std::string>().empty()) {
    r.fixed_ip = n["v4-fixed-ip"].get<std::string>();
  }
  return r;
}

Result<std::vector<NetRequest>> NetworkService::ParseNets(const json& nets) const {
  std::vector<NetRequest> out;
  if (!nets.is_array()) return out;
  for (const auto& n : nets) {
    auto r = ParseNet(n);
    if (!r) return Err(r.error());
    if (!out.empty() && out[0].neutron_port.has_value() != r->neutron_port.has_value()) {
      return Err(Status::Invalid("nets mixes Neutron ports and zunvmd networks; a container has one kind.",
                                 "InvalidValue"));
    }
    out.push_back(std::move(*r));
  }
  return out;
}

Result<NetworkRecord> NetworkService::FindOrMake(const std::string& name, const std::string& project) {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = store_->Get(name, project);
  if (found || found.error().code() != Code::kNotFound) return found;
  if (name == cfg_.default_network) {  // shared by every project
    return Named(store_->Create(name, cfg_.default_subnet, ""), Code::kConflict, "NetworkAlreadyExists");
  }
  auto pool = ParseIpv4Subnet(cfg_.subnet_pool);
  if (!pool) return Err(pool.error());
  auto all = store_->All();
  if (!all) return Err(all.error());
  std::set<std::string> used;
  for (const auto& n : *all) used.insert(n.subnet);
  for (uint64_t base = pool->base; base <= pool->Broadcast(); base += 256) {
    Ipv4Subnet s{static_cast<uint32_t>(base), 24};
    if (!used.count(s.ToString())) {
      return Named(store_->Create(name, s.ToString(), project), Code::kConflict, "NetworkAlreadyExists");
    }
  }
  return Err(Status(Code::kUnavailable, "No free /24 is left in [network] subnet_pool " + cfg_.subnet_pool + ".",
                    "NoMoreIpAddresses"));
}

Result<SandboxNic> NetworkService::NicFor(const IpAllocation& a) {
  auto net = store_->Get(a.network_uuid);
  if (!net) return Err(Named(net.error(), Code::kNotFound, "NetworkNotFound"));
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

Result<SandboxNic> NetworkService::Take(const std::string& container_uuid, const std::string& project,
                                        const NetRequest& r) {
  if (r.neutron_port) {
    Status st = store_->AddNeutronPort(container_uuid, r.neutron_port->port_id, NicToJson(*r.neutron_port).dump());
    if (!st.ok()) return Err(Named(st, Code::kConflict, "PortInUse"));
    return *r.neutron_port;
  }
  auto net = FindOrMake(r.network, project);
  if (!net) return Err(net.error());
  auto a = store_->Allocate(net->uuid, container_uuid, r.fixed_ip);
  if (!a) {
    Status st = Named(a.error(), Code::kNotFound, "NetworkNotFound");
    st = Named(st, Code::kConflict, "IpAddressInUse");
    return Err(Named(st, Code::kUnavailable, "NoMoreIpAddresses"));
  }
  auto nic = NicFor(*a);
  if (!nic) (void)store_->Release(a->port_id);
  return nic;
}

Result<std::vector<SandboxNic>> NetworkService::Allocate(const std::string& container_uuid,
                                                         const std::string& project,
                                                         const std::vector<NetRequest>& nets) {
  std::vector<NetRequest> wanted = nets;
  if (wanted.empty()) wanted.push_back({cfg_.default_network, std::nullopt, std::nullopt});
  std::vector<SandboxNic> out;
  for (const auto& r : wanted) {
    auto nic = Take(container_uuid, project, r);
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

Result<SandboxNic> NetworkService::AllocateOne(const std::string& container_uuid, const std::string& project,
                                               const NetRequest& r) {
  std::string network_uuid = r.network;
  if (!r.neutron_port) {
    auto net = FindOrMake(r.network, project);
    if (!net) return Err(net.error());
    network_uuid = net->uuid;
  }
  auto have = NicsOf(container_uuid);
  if (!have) return Err(have.error());
  for (const auto& n : *have) {
    if (n.network_uuid == network_uuid) {
      return Err(Status::Conflict("The container is already attached to network " + r.network + ".",
                                  "InvalidValue"));
    }
    if (n.ovs_bridge.empty() == r.neutron_port.has_value()) {
      return Err(Status::Invalid("A container is on zunvmd networks or on Neutron ports, not both.",
                                 "InvalidValue"));
    }
  }
  return Take(container_uuid, project, r);
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
  auto ports = store_->NeutronPortsOf(container_uuid);
  if (!ports) return Err(ports.error());
  for (const auto& data : *ports) {
    try {
      out.push_back(NicFromJson(json::parse(data)));
    } catch (const json::exception& e) {
      return Err(Status::Internal("stored Neutron port is damaged: " + std::string(e.what())));
    }
  }
  return out;
}

Status NetworkService::ReleaseContainer(const std::string& container_uuid) {
  return store_->ReleaseContainer(container_uuid);
}

Status NetworkService::ReleasePort(const std::string& port_id) {
  return Named(store_->Release(port_id), Code::kNotFound, "PortNotFound");
}

json NetworkService::Addresses(const std::vector<SandboxNic>& nics) {
  json out = json::object();
  for (const auto& n : nics) {
    bool neutron = !n.ovs_bridge.empty();
    out[n.network_uuid].push_back({{"addr", n.address},
                                   {"version", 4},
                                   {"port", n.port_id},
                                   {"subnet_id", neutron ? n.subnet_id : n.network_uuid},
                                   {"preserve_on_delete", neutron && n.preserve_on_delete}});
  }
  return out;
}

}  // namespace zunvm
