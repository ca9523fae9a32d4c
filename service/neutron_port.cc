#include "service/neutron_port.h"

#include <algorithm>
#include <cctype>

#include "common/ids.h"
#include "common/ipv4.h"

namespace zunvm {

using nlohmann::json;

namespace {

Status Bad(const std::string& what) { return Status::Invalid("Neutron port: " + what + ".", "InvalidValue"); }

// The string at `key`, or nullopt when missing or not a string.
std::optional<std::string> Str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// The IPv4 address that `j` holds as a string; InvalidArgument for anything else.
Result<uint32_t> Ipv4Of(const json& j) {
  if (!j.is_string()) return Err(Status::Invalid("not a string"));
  return ParseIpv4(j.get<std::string>());
}

Status ParseFixedIp(const json& ips, SandboxNic& nic) {
  if (!ips.is_array() || ips.size() != 1 || !ips[0].is_object()) {
    return Bad("fixed_ips must hold exactly one IPv4 address (zunvmd configures one per port)");
  }
  const json& ip = ips[0];
  auto addr = Ipv4Of(ip.value("ip_address", json()));
  auto cidr_text = Str(ip, "cidr");
  auto cidr = cidr_text ? ParseIpv4Subnet(*cidr_text) : Result<Ipv4Subnet>(Err(Status::Invalid("not a string")));
  if (!addr) return Bad("fixed_ips[0].ip_address must be an IPv4 address");
  if (!cidr || cidr->prefix < 1 || cidr->prefix > 30) return Bad("fixed_ips[0].cidr must be an IPv4 subnet of /1 to /30");
  if (!cidr->Contains(*addr) || *addr == cidr->base || *addr == cidr->Broadcast()) {
    return Bad("fixed_ips[0].ip_address must be a host address of its cidr");
  }
  nic.address = FormatIpv4(*addr);
  nic.prefix_len = cidr->prefix;
  auto gw = ip.find("gateway_ip");
  if (gw != ip.end() && !gw->is_null()) {
    auto g = Ipv4Of(*gw);
    if (!g || !cidr->Contains(*g) || *g == *addr) {
      return Bad("fixed_ips[0].gateway_ip must be another address of the cidr, or null");
    }
    nic.gateway = FormatIpv4(*g);
  }
  auto subnet = ip.find("subnet_id");
  if (subnet != ip.end() && !subnet->is_null()) {
    if (!subnet->is_string() || !IsUuidLike(subnet->get<std::string>())) return Bad("fixed_ips[0].subnet_id must be a uuid");
    nic.subnet_id = CanonicalUuid(subnet->get<std::string>());
  }
  return Status::Ok();
}

}  // namespace

bool IsNeutronPortEntry(const json& entry) {
  auto port = Str(entry, "port");
  return port && !port->empty();
}

Result<SandboxNic> ParseNeutronPort(const json& entry, const Config& cfg) {
  if (cfg.ovs_bridge.empty()) {
    return Err(Status::Invalid("Neutron ports (nets: port) need OpenStack mode ([network] ovs_bridge); "
                               "name a zunvmd network with nets: network instead.",
                               "InvalidValue"));
  }
  if (!entry.is_object()) return Err(Bad("expected an object"));
  SandboxNic nic;
  auto port = Str(entry, "port");
  auto network = Str(entry, "network");
  auto mac = Str(entry, "mac_address");
  if (!port || !IsUuidLike(*port)) return Err(Bad("port must be a uuid"));
  if (!network || !IsUuidLike(*network)) return Err(Bad("network must be the uuid of its Neutron network"));
  if (!mac || !ValidMac(*mac)) return Err(Bad("mac_address must be a unicast MAC like fa:16:3e:12:34:56"));
  nic.port_id = CanonicalUuid(*port);
  nic.network_uuid = CanonicalUuid(*network);
  nic.mac = *mac;
  std::transform(nic.mac.begin(), nic.mac.end(), nic.mac.begin(), [](unsigned char c) { return std::tolower(c); });
  nic.ovs_bridge = cfg.ovs_bridge;
  ZUNVM_RETURN_IF_ERROR(ParseFixedIp(entry.value("fixed_ips", json()), nic));
  nic.mtu = cfg.network_mtu;
  if (auto mtu = entry.find("mtu"); mtu != entry.end() && !mtu->is_null()) {
    if (!mtu->is_number_integer() || mtu->get<int64_t>() < 576 || mtu->get<int64_t>() > 9000) {
      return Err(Bad("mtu must be an integer within 576..9000"));
    }
    nic.mtu = mtu->get<int>();
  }
  if (auto dns = entry.find("dns_nameservers"); dns != entry.end() && !dns->is_null()) {
    if (!dns->is_array() || dns->size() > 8) return Err(Bad("dns_nameservers must be a list of at most 8 IPv4 addresses"));
    for (const auto& d : *dns) {
      auto a = Ipv4Of(d);
      if (!a) return Err(Bad("dns_nameservers must be a list of at most 8 IPv4 addresses"));
      nic.nameservers.push_back(FormatIpv4(*a));
    }
  }
  if (auto keep = entry.find("preserve_on_delete"); keep != entry.end() && !keep->is_null()) {
    if (!keep->is_boolean()) return Err(Bad("preserve_on_delete must be a boolean"));
    nic.preserve_on_delete = keep->get<bool>();
  }
  return nic;
}

}  // namespace zunvm
