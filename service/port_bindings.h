// PortBindings: a container's exposed ports, published on the host while it runs.
//
// Each `exposed_ports` entry ("80/tcp": {} or the extension {"host_port", "host_ip"}) is
// published through PortPublisher on host_ip (default [network] published_host_ip) and
// host_port (default: any free port) to the container's first address, inside its network's
// namespace, while the container is Running, Paused or Restarting; otherwise it is not.
// `Sync` brings one container in line and returns what is published, for the record's
// `published_ports`: [{"port", "protocol", "host_ip", "host_port"}].
//
// Thread safety: thread-safe. Errors: CheckCreate gives Conflict ("PortInUse") when a host port
// a create asks for is another container's or is taken on the host.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "network/port_publisher.h"
#include "model/container.h"
#include "service/network_service.h"

namespace zunvm {

class PortBindings {
 public:
  // Nothing owned; all must outlive this.
  PortBindings(const Config& cfg, PortPublisher* publisher, NetworkService* networks)
      : cfg_(cfg), publisher_(publisher), networks_(networks) {}

  // Conflict when `c` asks for a host port another container or the host holds. `others`
  // (every container) is read only when `c` asks for a fixed host port.
  Status CheckCreate(const Container& c, const std::function<Result<std::vector<Container>>()>& others);
  // Publishes or unpublishes `c`'s ports as its status says; returns the ports now published.
  // Failures to publish are logged and leave that port out (`warning` says which).
  nlohmann::json Sync(const Container& c, std::string* warning);
  void Drop(const std::string& uuid);

 private:
  struct Want {
    std::string protocol, host_ip;
    int port = 0, host_port = 0;
  };
  std::vector<Want> Wanted(const Container& c) const;

  const Config& cfg_;
  PortPublisher* publisher_;
  NetworkService* networks_;
  std::mutex mu_;
  std::map<std::string, nlohmann::json> published_;  // uuid -> what Sync returned
};

}  // namespace zunvm
