// HostNetwork: the host side of zunvmd's networks. Each network is a Linux network namespace
// that zunvmd owns ("zvn-" + 8 hex of the network uuid), holding a bridge `br0` whose address
// is the network's gateway; a sandbox's NIC is a tap device created in the host namespace
// (where libvirt opens it), then moved into the network's namespace and enslaved to `br0`.
// Nothing in a network namespace routes to the host's own namespace, so containers reach
// each other only on a shared network and never reach the host's services.
//
// IpHostNetwork runs iproute2's `ip` (argv only, never a shell); tests/fakes/fake_host_network.h
// keeps the same state in memory for unit tests of callers. Thread safety: thread-safe;
// IpHostNetwork serialises EnsureNetwork (check-then-create) with a mutex. Errors: Internal (with
// the command's output) when `ip` fails; every method is idempotent.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "common/status.h"

namespace zunvm {

// "zvn-<first 8 hex digits of the uuid>"
std::string NetnsName(const std::string& network_uuid);
// "zvc-<first 12 hex digits of the container uuid>": a trusted container's own namespace.
std::string ContainerNetnsName(const std::string& container_uuid);

// A NIC of a trusted container (host processes under an OCI runtime, not a VM): a veth pair
// whose end `host_if` sits on the network's br0, as a VM's tap does, and whose peer is
// `ifname` in the container's own namespace with the port's MAC, address and MTU, up, and the
// default route via `gateway` when set (the first NIC's). The runtime joins that namespace by
// path (/run/netns/<container_netns>). A Neutron port (OpenStack mode, `ovs_bridge` set) is
// plugged as Nova plugs a VM's: `host_if` (OvsTapName) stays in the host's namespace, a port of
// that Open vSwitch bridge with the port id as its iface-id and the MAC as attached-mac.
struct ContainerNicPlug {
  std::string container_netns;  // ContainerNetnsName(uuid)
  std::string network_netns;    // NetnsName(network uuid), made by EnsureNetwork; unused for OVS
  std::string host_if;          // TapName(port id), or OvsTapName: at most 15 characters
  std::string ifname = "eth0";
  std::string mac;              // unicast, e.g. 52:54:00:12:34:56
  std::string cidr;             // 10.88.0.5/16
  std::string gateway;          // empty: no default route
  int mtu = 1500;
  std::string ovs_bridge;       // a Neutron port: the integration bridge
  std::string port_id;          // a Neutron port: its id (the OVS iface-id)
};
// "zvt" + 12 hex digits of the port id: at most 15 characters, as interface names must be.
std::string TapName(const std::string& port_id);
// Nova's name for a Neutron port's tap: "tap" + the first 11 characters of the port id.
std::string OvsTapName(const std::string& port_id);

class HostNetwork {
 public:
  virtual ~HostNetwork() = default;
  // The namespace, its loopback up, `br0` up with `gateway_cidr` (e.g. "10.88.0.1/24").
  virtual Status EnsureNetwork(const std::string& netns, const std::string& gateway_cidr) = 0;
  // Deletes the namespace (and what is inside it).
  virtual Status RemoveNetwork(const std::string& netns) = 0;
  // A persistent tap in the host namespace (before the VM starts).
  virtual Status CreateTap(const std::string& tap) = 0;
  // Moves the link `ifname` (a tap, or a veth end in tests) into `netns` onto `br0`, up.
  virtual Status AttachToNetwork(const std::string& ifname, const std::string& netns) = 0;
  // Deletes the link wherever it is (host namespace or `netns`).
  virtual Status DeleteLink(const std::string& ifname, const std::string& netns) = 0;
  // Outbound NAT for the network `subnet` in `netns` (off unless [network] nat): a veth from
  // the host (NatLinkName) into the namespace, which routes by default through it; proxy ARP
  // both ends; the host forwards and masquerades the subnet (nftables table inet zunvm) and
  // drops new connections from any such link to the host itself or to another network.
  virtual Status EnableNat(const std::string& netns, const std::string& subnet) = 0;
  virtual Status DisableNat(const std::string& netns, const std::string& subnet) = 0;
  // Makes the container's namespace (if missing, loopback up) and plugs the NIC (if its peer is
  // not there yet); then sets the address, MTU, link state and route (again, harmlessly).
  virtual Status PlugContainerNic(const ContainerNicPlug& nic) = 0;
  // Deletes the container's veths (both ends, before it returns), then its namespace.
  virtual Status RemoveContainerNetns(const std::string& container_netns) = 0;
  // Takes `ifname` out of the Open vSwitch bridge (if it is there) and deletes the link (if it
  // is left): a trusted container's Neutron port on detach or delete.
  virtual Status RemoveOvsPort(const std::string& bridge, const std::string& ifname) = 0;
};

// "zvx" + the namespace's 8 hex digits: the host end of a network's NAT link.
std::string NatLinkName(const std::string& netns);

class IpHostNetwork : public HostNetwork {
 public:
  Status EnsureNetwork(const std::string& netns, const std::string& gateway_cidr) override;
  Status RemoveNetwork(const std::string& netns) override;
  Status CreateTap(const std::string& tap) override;
  Status AttachToNetwork(const std::string& ifname, const std::string& netns) override;
  Status DeleteLink(const std::string& ifname, const std::string& netns) override;
  Status EnableNat(const std::string& netns, const std::string& subnet) override;
  Status DisableNat(const std::string& netns, const std::string& subnet) override;
  Status PlugContainerNic(const ContainerNicPlug& nic) override;
  Status RemoveContainerNetns(const std::string& container_netns) override;
  Status RemoveOvsPort(const std::string& bridge, const std::string& ifname) override;

 private:
  std::mutex ensure_mu_;
};


}  // namespace zunvm
