// NetworkService: which of zunvmd's networks a container is on, and with which address.
//
// Networks are NetworkStore rows; the default one ([network] default_network/default_subnet)
// is made at start and shared by every project. A create's `nets` names networks of the
// container's project (or shared ones); one that does not exist yet is made for that project
// with the next /24 of [network] subnet_pool that no network uses. Another project's network
// cannot be named, by name or uuid: projects' containers never share a network they did not
// get from the operator. Each requested network gives the
// container a port (address, MAC, port id) that becomes a SandboxNic for the driver and an
// entry of the container's `addresses` in Zun's shape. Ports are released on delete/detach.
// In OpenStack mode a container may instead have Neutron ports, which are only recorded (never
// both kinds: the first NIC carries the default route). The host side (namespaces, bridges,
// taps) belongs to the driver.
//
// Thread safety: thread-safe; making a network on demand is serialised by `mu_`.
// Errors: as NetworkStore (NotFound NetworkNotFound, Conflict IpAddressInUse, InvalidArgument
// for a bad fixed IP, Unavailable NoMoreIpAddresses), and InvalidArgument for a bad request.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "db/network_store.h"
#include "driver/driver.h"

namespace zunvm {

// One entry of a create's `nets`: a network name (or uuid) and maybe a fixed address, or a
// Neutron port the Zun driver made (OpenStack mode, service/neutron_port.h), whole.
struct NetRequest {
  std::string network;
  std::optional<std::string> fixed_ip;
  std::optional<SandboxNic> neutron_port;
};

class NetworkService {
 public:
  // Nothing owned; both must outlive the service.
  NetworkService(const Config& cfg, NetworkStore* store) : cfg_(cfg), store_(store) {}

  // Makes the default network if it is missing; reads the host's nameservers.
  Status Init();
  // `nets` of a create ([{network, v4-fixed-ip}...] or Neutron ports, keys schema-checked);
  // empty means the default network. InvalidArgument for entries this zunvmd cannot honour.
  Result<std::vector<NetRequest>> ParseNets(const nlohmann::json& nets) const;
  Result<NetRequest> ParseNet(const nlohmann::json& entry) const;
  // Ports for a new container of `project`, all or none: on an error nothing stays allocated.
  Result<std::vector<SandboxNic>> Allocate(const std::string& container_uuid, const std::string& project,
                                           const std::vector<NetRequest>& nets);
  // One more port for an existing container (network_attach): Conflict when it is already on
  // that network; nothing stays allocated on an error.
  Result<SandboxNic> AllocateOne(const std::string& container_uuid, const std::string& project,
                                 const NetRequest& net);
  // The container's ports as NICs, in allocation order.
  Result<std::vector<SandboxNic>> NicsOf(const std::string& container_uuid);
  Status ReleaseContainer(const std::string& container_uuid);
  Status ReleasePort(const std::string& port_id);
  // The network of `project` (or shared) a name or uuid refers to (NotFound when none).
  Result<NetworkRecord> Find(const std::string& name_or_uuid, const std::string& project) {
    return store_->Get(name_or_uuid, project);
  }
  // Zun's `addresses`: {network uuid: [{addr, version, port, subnet_id, preserve_on_delete}]}.
  static nlohmann::json Addresses(const std::vector<SandboxNic>& nics);
  // The /etc/resolv.conf of a container with these NICs (service/resolv_conf.h).
  std::string ResolvConf(const std::vector<SandboxNic>& nics) const;

 private:
  Result<NetworkRecord> FindOrMake(const std::string& name, const std::string& project);
  Result<SandboxNic> NicFor(const IpAllocation& a);
  // Records a Neutron port or allocates an address on a zunvmd network.
  Result<SandboxNic> Take(const std::string& container_uuid, const std::string& project, const NetRequest& r);

  const Config& cfg_;
  NetworkStore* store_;
  std::mutex mu_;
  std::vector<std::string> host_nameservers_;  // set by Init
};

}  // namespace zunvm
