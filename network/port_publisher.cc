#include "network/port_publisher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <set>
#include <thread>

#include "common/fs_at.h"
#include "common/ipv4.h"

namespace zunvm {

using fsat::UniqueFd;
using Clock = std::chrono::steady_clock;

namespace {

std::string Describe(const PublishedPort& p) {
  return p.host_ip + ":" + std::to_string(p.host_port) + "/" + p.protocol;
}

sockaddr_in Addr(uint32_t ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

// Connects with a deadline, or until `wake` is readable (the socket stays blocking afterwards).
Status ConnectWithin(int fd, const sockaddr_in& to, int timeout_ms, int wake) {
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  if (rc != 0 && errno != EINPROGRESS) return Status::Unavailable(std::strerror(errno));
  if (rc != 0) {
    pollfd p[2] = {{fd, POLLOUT, 0}, {wake, POLLIN, 0}};
    if (::poll(p, 2, timeout_ms) <= 0 || p[1].revents) return Status::Unavailable("connect timed out");
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return Status::Unavailable(std::strerror(err));
  }
  ::fcntl(fd, F_SETFL, flags);
  return Status::Ok();
}

// Sends everything unless `wake` becomes readable first (a peer that stops reading must not
// hold up Unpublish).
bool SendAll(int fd, const char* data, size_t n, int wake) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p[2] = {{fd, POLLOUT, 0}, {wake, POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 && errno != EINTR) return false;
      if (p[1].revents) return false;
      continue;
    }
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

Result<int> SocketInNamespace(const std::string& netns, int type) {
  if (netns.empty()) {
    int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return Err(Status::Internal(std::string("socket: ") + std::strerror(errno)));
    return fd;
  }
  if (netns.find('/') != std::string::npos || netns == "." || netns == "..") {
    return Err(Status::Invalid("bad namespace name " + netns));
  }
  int fd = -1;
  std::string error;
  std::thread t([&] {
    UniqueFd ns(::open(("/var/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC));
    if (ns.get() < 0) {
      error = "cannot open namespace " + netns + ": " + std::strerror(errno);
      return;
    }
    if (::setns(ns.get(), CLONE_NEWNET) != 0) {
      error = "cannot enter namespace " + netns + ": " + std::strerror(errno);
      return;
    }
    fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) error = std::string("socket: ") + std::strerror(errno);
  });
  t.join();
  if (fd < 0) return Err(Status::Internal(error));
  return fd;
}

// One listener. Its threads hold a shared_ptr to it; `wake` (an eventfd) tells them to stop.
struct PortPublisher::Publication {
  PublishedPort spec;
  uint32_t target = 0;
  UniqueFd listener;
  UniqueFd wake;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  int relays = 0;  // TCP connection threads alive

  void Stop() {
    uint64_t one = 1;
    (void)!::write(wake.get(), &one, sizeof one);
  }
  void RunTcp(const std::shared_ptr<Publication>& self);
  void RelayTcp(int client);
  void RunUdp();
};

void PortPublisher::Publication::RunTcp(const std::shared_ptr<Publication>& self) {
  for (;;) {
    pollfd p[2] = {{listener.get(), POLLIN, 0}, {wake.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) return;
    if (p[1].revents) return;
    if (!(p[0].revents & POLLIN)) continue;
    int client = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (relays >= kMaxConnections) {
        ::close(client);
        continue;
      }
      ++relays;
    }
    std::thread([self, client] {
      self->RelayTcp(client);
      std::lock_guard<std::mutex> lock(self->mu);
      --self->relays;
      self->cv.notify_all();
    }).detach();
  }
}

// Copies both ways until both directions ended or the publication stops. Owns `client`.
void PortPublisher::Publication::RelayTcp(int client_fd) {
  UniqueFd client(client_fd);
  auto s = SocketInNamespace(spec.netns, SOCK_STREAM);
  if (!s) return;
  UniqueFd upstream(*s);
  if (!ConnectWithin(upstream.get(), Addr(target, spec.target_port), 5000, wake.get()).ok()) return;
  int fds[2] = {client.get(), upstream.get()};
  bool open_in[2] = {true, true};  // reading from fds[i] still possible
  char buf[65536];
  while (open_in[0] || open_in[1]) {
    pollfd p[3];
    int n = 0;
    int which[2] = {-1, -1};
    for (int i = 0; i < 2; ++i) {
      if (open_in[i]) {
        which[n] = i;
        p[n++] = {fds[i], POLLIN, 0};
      }
    }
    p[n] = {wake.get(), POLLIN, 0};
    if (::poll(p, static_cast<nfds_t>(n + 1), -1) < 0 && errno != EINTR) return;
    if (p[n].revents) return;
    for (int k = 0; k < n; ++k) {
      if (!p[k].revents) continue;
      int i = which[k];
      ssize_t r = ::recv(fds[i], buf, sizeof buf, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        open_in[i] = false;
        ::shutdown(fds[1 - i], SHUT_WR);  // pass the half-close on
        if (r < 0) return;
        continue;
      }
      if (!SendAll(fds[1 - i], buf, static_cast<size_t>(r), wake.get())) return;
    }
  }
}

void PortPublisher::Publication::RunUdp() {
  struct Flow {
    UniqueFd fd;
    sockaddr_in client{};
    Clock::time_point used;
  };
  std::map<std::pair<uint32_t, uint16_t>, Flow> flows;
  char buf[65536];
  for (;;) {
    std::vector<pollfd> p = {{wake.get(), POLLIN, 0}, {listener.get(), POLLIN, 0}};
    std::vector<std::pair<uint32_t, uint16_t>> keys;
    for (auto& [k, f] : flows) {
      p.push_back({f.fd.get(), POLLIN, 0});
      keys.push_back(k);
    }
    if (::poll(p.data(), p.size(), 1000) < 0 && errno != EINTR) return;
    if (p[0].revents) return;
    auto now = Clock::now();
    if (p[1].revents & POLLIN) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t r = ::recvfrom(listener.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (r >= 0) {
        auto key = std::make_pair(from.sin_addr.s_addr, from.sin_port);
        auto it = flows.find(key);
        if (it == flows.end() && static_cast<int>(flows.size()) < kMaxFlows) {
          auto s = SocketInNamespace(spec.netns, SOCK_DGRAM);
          if (s) {
            Flow f;
            f.fd = UniqueFd(*s);
            f.client = from;
            sockaddr_in to = Addr(target, spec.target_port);
            if (::connect(f.fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) {
              it = flows.emplace(key, std::move(f)).first;
            }
          }
        }
        if (it != flows.end()) {
          it->second.used = now;
          (void)::send(it->second.fd.get(), buf, static_cast<size_t>(r), MSG_NOSIGNAL);
        }
      }
    }
    for (size_t k = 0; k < keys.size(); ++k) {
      if (!(p[k + 2].revents & POLLIN)) continue;
      auto& f = flows.at(keys[k]);
      ssize_t r = ::recv(f.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (r < 0) continue;  // e.g. ECONNREFUSED from an ICMP: nothing listens yet
      f.used = now;
      (void)::sendto(listener.get(), buf, static_cast<size_t>(r), MSG_NOSIGNAL,
                     reinterpret_cast<const sockaddr*>(&f.client), sizeof f.client);
    }
    for (auto it = flows.begin(); it != flows.end();) {
      it = now - it->second.used > std::chrono::seconds(kFlowIdleSeconds) ? flows.erase(it) : std::next(it);
    }
  }
}

Result<int> PortPublisher::Publish(const PublishedPort& spec) {
  if (spec.protocol != "tcp" && spec.protocol != "udp") {
    return Err(Status::Invalid("protocol must be tcp or udp, not " + spec.protocol));
  }
  auto host = ParseIpv4(spec.host_ip);
  auto target = ParseIpv4(spec.target_ip);
  if (!host || !target) return Err(Status::Invalid("bad address in the publication of " + Describe(spec)));
  if (spec.host_port < 0 || spec.host_port > 65535 || spec.target_port < 1 || spec.target_port > 65535) {
    return Err(Status::Invalid("bad port in the publication of " + Describe(spec)));
  }
  bool tcp = spec.protocol == "tcp";
  auto pub = std::make_shared<Publication>();
  pub->spec = spec;
  pub->target = *target;
  pub->listener = UniqueFd(::socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
  pub->wake = UniqueFd(::eventfd(0, EFD_CLOEXEC));
  if (pub->listener.get() < 0 || pub->wake.get() < 0) {
    return Err(Status::Internal(std::string("socket: ") + std::strerror(errno)));
  }
  int one = 1;
  if (tcp) ::setsockopt(pub->listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in at = Addr(*host, spec.host_port);
  if (::bind(pub->listener.get(), reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) {
    if (errno == EADDRINUSE) {
      return Err(Status::Conflict("Port " + Describe(spec) + " is already in use on the host.", "PortInUse"));
    }
    return Err(Status::Internal("cannot bind " + Describe(spec) + ": " + std::strerror(errno)));
  }
  if (tcp && ::listen(pub->listener.get(), 128) != 0) {
    if (errno == EADDRINUSE) {
      return Err(Status::Conflict("Port " + Describe(spec) + " is already in use on the host.", "PortInUse"));
    }
    return Err(Status::Internal("cannot listen on " + Describe(spec) + ": " + std::strerror(errno)));
  }
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  ::getsockname(pub->listener.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  pub->spec.host_port = ntohs(bound.sin_port);
  if (tcp) {
    pub->thread = std::thread([p = pub.get(), pub] { p->RunTcp(pub); });
  } else {
    pub->thread = std::thread([p = pub.get()] { p->RunUdp(); });
  }
  std::lock_guard<std::mutex> lock(mu_);
  pubs_.emplace(spec.key, pub);
  return pub->spec.host_port;
}

void PortPublisher::Unpublish(const std::string& key) {
  std::vector<std::shared_ptr<Publication>> gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto [first, last] = pubs_.equal_range(key);
    for (auto it = first; it != last; ++it) gone.push_back(it->second);
    pubs_.erase(first, last);
  }
  for (auto& p : gone) {
    p->Stop();
    if (p->thread.joinable()) p->thread.join();
    std::unique_lock<std::mutex> lock(p->mu);
    p->cv.wait(lock, [&] { return p->relays == 0; });  // every relay polls `wake`, also when sending
    // Closed here, not when the last relay lets go of the publication: the port is free now.
    p->listener = UniqueFd();
  }
}

std::vector<PublishedPort> PortPublisher::List() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PublishedPort> out;
  for (const auto& [key, p] : pubs_) out.push_back(p->spec);
  return out;
}

PortPublisher::~PortPublisher() {
  std::set<std::string> keys;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, p] : pubs_) keys.insert(key);
  }
  for (const auto& k : keys) Unpublish(k);
}

}  // namespace zunvm
