// PortPublisher: makes a container's port reachable on the host, through zunvmd itself (a
// userspace proxy, as Docker's docker-proxy): a listener on host_ip:host_port in the host's
// namespace, and for each client a socket created inside the container network's namespace
// (zunvmd's namespaces have no route to the host, so this is the only way in) connected to
// target_ip:target_port.
//
// TCP: one thread accepts; each connection is relayed by its own thread, which never blocks
// without also watching for Unpublish (at most
// kMaxConnections per publication; more are closed at once), half-closes are passed on.
// UDP: one thread per publication relays datagrams; each client address gets its own socket in
// the namespace (a "flow", at most kMaxFlows, dropped after kFlowIdle without traffic).
//
// Thread safety: all methods are thread-safe. Ownership: the publisher owns every socket and
// thread it makes; Unpublish and the destructor close them and return once the threads are gone.
// Errors: Publish gives Conflict when the host port is taken (by a publication or anything
// else), InvalidArgument for a bad protocol/address/port, Internal for other socket errors.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace zunvm {

struct PublishedPort {
  std::string key;          // the caller's id (a container uuid): Unpublish(key) ends them all
  std::string protocol;     // "tcp" | "udp"
  std::string host_ip;      // e.g. "127.0.0.1"
  int host_port = 0;        // 0: any free port (List and Publish give the one chosen)
  std::string netns;        // under /var/run/netns; empty: the host's namespace (tests)
  std::string target_ip;
  int target_port = 0;
};

class PortPublisher {
 public:
  static constexpr int kMaxConnections = 256;
  static constexpr int kMaxFlows = 256;
  static constexpr int kFlowIdleSeconds = 60;

  PortPublisher() = default;
  ~PortPublisher();
  PortPublisher(const PortPublisher&) = delete;
  PortPublisher& operator=(const PortPublisher&) = delete;

  // Binds the host side now (so a conflict is reported here) and starts relaying. Returns the
  // host port.
  Result<int> Publish(const PublishedPort& p);
  // Closes the listeners of `key` and every connection they carry.
  void Unpublish(const std::string& key);
  std::vector<PublishedPort> List();

  struct Publication;  // one listener and its relays (port_publisher.cc)

 private:
  std::mutex mu_;
  std::multimap<std::string, std::shared_ptr<Publication>> pubs_;
};

// A socket of `type` (SOCK_STREAM/SOCK_DGRAM, AF_INET, close-on-exec) created inside the
// network namespace `netns` (/var/run/netns/<netns>; empty: the caller's). The calling thread's
// namespace is never changed: a short-lived thread enters the namespace to make it.
Result<int> SocketInNamespace(const std::string& netns, int type);

}  // namespace zunvm
