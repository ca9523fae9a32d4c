#include "service/port_bindings.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include "common/fs_at.h"
#include "common/ipv4.h"
#include "common/logging.h"

namespace zunvm {

using nlohmann::json;

namespace {

bool Live(const Container& c) {
  return c.status == ContainerStatus::kRunning || c.status == ContainerStatus::kPaused || c.status == ContainerStatus::kRestarting;
}

// Whether something on the host holds ip:port/proto now (a bind that fails with EADDRINUSE).
bool TakenOnHost(const std::string& protocol, const std::string& ip, int port) {
  auto addr = ParseIpv4(ip);
  if (!addr) return false;
  fsat::UniqueFd fd(::socket(AF_INET, (protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return false;
  int one = 1;
  if (protocol != "udp") ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(*addr);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return errno == EADDRINUSE;
  return protocol != "udp" && ::listen(fd.get(), 1) != 0 && errno == EADDRINUSE;
}

}  // namespace

std::vector<PortBindings::Want> PortBindings::Wanted(const Container& c) const {
  std::vector<Want> out;
  for (const auto& [key, binding] : c.exposed_ports) {
    auto slash = key.find('/');
    Want w;
    w.port = std::atoi(key.substr(0, slash).c_str());
    w.protocol = slash == std::string::npos ? "tcp" : key.substr(slash + 1);
    w.host_ip = cfg_.published_host_ip;
    if (binding.is_object()) {
      if (auto ip = binding.find("host_ip"); ip != binding.end() && ip->is_string()) w.host_ip = ip->get<std::string>();
      if (auto hp = binding.find("host_port"); hp != binding.end() && hp->is_number_integer()) w.host_port = hp->get<int>();
    }
    out.push_back(w);
  }
  return out;
}

Status PortBindings::CheckCreate(const Container& c, const std::function<Result<std::vector<Container>>()>& others) {
  std::optional<std::vector<Container>> all;
  for (const auto& w : Wanted(c)) {
    if (w.host_port == 0) continue;
    std::string what = w.host_ip + ":" + std::to_string(w.host_port) + "/" + w.protocol;
    if (!all) {
      auto loaded = others();
      if (!loaded) return loaded.error();
      all = std::move(*loaded);
    }
    for (const auto& o : *all) {
      for (const auto& ow : Wanted(o)) {
        if (ow.host_port == w.host_port && ow.protocol == w.protocol &&
            (ow.host_ip == w.host_ip || ow.host_ip == "0.0.0.0" || w.host_ip == "0.0.0.0")) {
          return Status::Conflict("Port " + what + " is already published by container " + o.uuid + ".", "PortInUse");
        }
      }
    }
    if (TakenOnHost(w.protocol, w.host_ip, w.host_port)) {
      return Status::Conflict("Port " + what + " is already in use on the host.", "PortInUse");
    }
  }
  return Status::Ok();
}

json PortBindings::Sync(const Container& c, std::string* warning) {
  std::lock_guard<std::mutex> lock(mu_);
  bool live = Live(c) && !c.exposed_ports.empty();
  auto it = published_.find(c.uuid);
  if (!live) {
    if (it != published_.end()) {
      publisher_->Unpublish(c.uuid);
      published_.erase(it);
    }
    return json::array();
  }
  if (it != published_.end()) return it->second;
  json out = json::array();
  auto nics = networks_->NicsOf(c.capsule_id.value_or(c.uuid));  // a capsule member: the capsule's
  if (!nics || nics->empty()) {
    *warning = "exposed ports are not published: the container has no network address";
    return published_[c.uuid] = out;
  }
  const SandboxNic& nic = (*nics)[0];
  for (const auto& w : Wanted(c)) {
    PublishedPort p{c.uuid, w.protocol, w.host_ip, w.host_port, nic.netns, nic.address, w.port};
    auto port = publisher_->Publish(p);
    if (!port) {
      Logger("service")->warn("container {}: {}", c.uuid, port.error().ToString());
      *warning = port.error().message();
      continue;
    }
    out.push_back({{"port", w.port}, {"protocol", w.protocol}, {"host_ip", w.host_ip}, {"host_port", *port}});
  }
  return published_[c.uuid] = out;
}

void PortBindings::Drop(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  publisher_->Unpublish(uuid);
  published_.erase(uuid);
}

}  // namespace zunvm
