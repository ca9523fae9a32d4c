// NetworkStore: zunvmd's networks and the addresses handed out on them, in SQLite.
//
// A network has a name, a uuid and an IPv4 subnet whose first host address is the gateway
// (kept for the bridge). Allocate() hands a container the lowest free host address of a
// network, or the fixed address it asks for, in one transaction, so no address is ever given
// twice; each allocation also gets a port id and a MAC (52:54:00 + three random bytes, unique).
// Release*() frees addresses; rows survive restarts like every other table.
//
// Thread safety: thread-safe (through Database). Errors: NotFound ("NetworkNotFound"),
// Conflict ("NetworkAlreadyExists", "IpAddressInUse"), InvalidArgument (a fixed address outside
// the subnet or reserved), Unavailable ("NoMoreIpAddresses"), Internal.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/ipv4.h"
#include "db/database.h"

namespace zunvm {

struct NetworkRecord {
  std::string uuid;
  std::string name;
  std::string project_id;  // "" = shared by every project (the default network)
  std::string subnet;   // "10.88.0.0/24"
  std::string gateway;  // first host address
  std::string created_at;
};

struct IpAllocation {
  std::string network_uuid;
  std::string container_uuid;
  std::string address;
  std::string port_id;  // uuid, Zun's `port` in addresses
  std::string mac;
};

class NetworkStore {
 public:
  explicit NetworkStore(Database* db) : db_(db) {}
  // Conflict when the project has a network of that name or the subnet is taken;
  // InvalidArgument for a subnet with fewer than two host addresses (gateway plus one).
  Result<NetworkRecord> Create(const std::string& name, const std::string& subnet,
                               const std::string& project_id = "");
  // By uuid or name. With a `project`, only its networks and the shared ones are found (a
  // name: the project's own before a shared one); without, any network.
  Result<NetworkRecord> Get(const std::string& uuid_or_name,
                            const std::optional<std::string>& project = std::nullopt);
  Result<std::vector<NetworkRecord>> All();
  // Conflict while addresses are allocated on it.
  Status Delete(const std::string& uuid);

  Result<IpAllocation> Allocate(const std::string& network_uuid, const std::string& container_uuid,
                                const std::optional<std::string>& fixed_ip);
  Result<std::vector<IpAllocation>> ForContainer(const std::string& container_uuid);
  // Neutron ports (OpenStack mode) are only recorded: `data` is the port as given, kept
  // verbatim. Conflict ("PortInUse") when the port is recorded already.
  Status AddNeutronPort(const std::string& container_uuid, const std::string& port_id,
                        const std::string& data);
  // The container's Neutron ports' data, in the order they were added.
  Result<std::vector<std::string>> NeutronPortsOf(const std::string& container_uuid);
  // Both release addresses and Neutron ports alike.
  Status Release(const std::string& port_id);
  Status ReleaseContainer(const std::string& container_uuid);

 private:
  // Allocation is first-fit: the lowest free host address. `free_from_` keeps, per network,
  // an address below which every host address is taken (0: unknown), so a create does not
  // look at every allocation: raised after an allocation, lowered by a release (Freed: rows of
  // network_uuid, address about to be released). Guarded by hint_mu_; raised inside the
  // allocation's write (lowered again if that write does not commit), lowered before a release.
  // Only a lower bound matters for correctness: a hint too low costs probes, never an address.
  uint32_t FreeFrom(const std::string& network_uuid);
  void SetFreeFrom(const std::string& network_uuid, uint32_t addr);
  void LowerFreeFrom(const std::string& network_uuid, uint32_t addr);
  void Freed(SQLite::Statement& rows);

  Database* db_;  // not owned
  std::mutex hint_mu_;
  std::map<std::string, uint32_t> free_from_;
};

}  // namespace zunvm
