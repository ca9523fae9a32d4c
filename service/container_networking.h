// ContainerNetworking: a container's ports (on zunvmd's networks, or Neutron ports) through
// its life: planned and taken with the create (so a refused address is a refused create),
// given to the driver as NICs, hot-plugged into a running sandbox (network_attach/detach),
// released on delete. Without a NetworkService (no networking) containers get no NICs and
// attach/detach are NotImplemented.
//
// Thread safety: thread-safe.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "driver/driver.h"
#include "model/container.h"
#include "model/request_context.h"
#include "service/container_records.h"
#include "service/network_service.h"

namespace zunvm {

class ContainerNetworking {
 public:
  // Nothing owned; `networks` may be null.
  ContainerNetworking(NetworkService* networks, SandboxDriver* driver, ContainerRecords* records)
      : networks_(networks), driver_(driver), records_(records) {}

  // A create's `nets`, checked (InvalidArgument for what this zunvmd cannot honour).
  Result<std::vector<NetRequest>> Plan(const nlohmann::json& requested_nets) const;
  // Takes the planned ports for `c` and sets its `addresses`; all or nothing.
  Status Allocate(Container& c, const std::vector<NetRequest>& nets);
  // The sandbox's NICs and /etc/resolv.conf.
  Status AddTo(SandboxSpec& spec);
  // Hot-plug into `c` (into its sandbox too when it has one); the record's addresses follow.
  Result<Container> Attach(const RequestContext& ctx, const Container& c, const nlohmann::json& net);
  // `network_or_port`: a network name/uuid or a port id; NotFound when `c` has no such port.
  Result<Container> Detach(const RequestContext& ctx, const Container& c, const std::string& network_or_port);
  // Frees all of the container's ports (failures are logged).
  void Release(const std::string& uuid);
  // At start-up, after a crash in the middle of an attach or detach: the sandbox's NICs and the
  // network store's ports of `c` are made to agree (a NIC without a port is unplugged, a port
  // the sandbox lacks is released), then the record's addresses become its ports'.
  Status ReconcileNics(const Container& c);

 private:
  Result<Container> RefreshAddresses(const std::string& uuid);

  NetworkService* networks_;
  SandboxDriver* driver_;
  ContainerRecords* records_;
};

}  // namespace zunvm
