// PortPublisher with real sockets: echo servers in the host namespace and inside a namespace
// this test creates (root needed, as for every test here). All traffic is on 127.0.0.1, in
// either namespace.
#include "network/port_publisher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "common/fs_at.h"
#include "common/ids.h"
#include "common/subprocess.h"
#include "tests/unit/test_util.h"

namespace zunvm {
namespace {

using fsat::UniqueFd;

sockaddr_in Loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

int PortOf(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// An echo server on 127.0.0.1:0 of namespace `netns` ("" = the host's): TCP echoes until the
// client half-closes, then closes; UDP echoes each datagram.
class Echo {
 public:
  Echo(const std::string& netns, int type) : type_(type) {
    auto s = SocketInNamespace(netns, type);
    EXPECT_TRUE(s) << s.error().ToString();
    fd_ = UniqueFd(*s);
    sockaddr_in a = Loopback(0);
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    if (type == SOCK_STREAM) {
      EXPECT_EQ(::listen(fd_.get(), 16), 0);
    }
    port_ = PortOf(fd_.get());
    thread_ = std::thread([this] { Run(); });
  }
  ~Echo() {
    stop_ = true;
    ::shutdown(fd_.get(), SHUT_RDWR);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  void Run() {
    char buf[65536];
    while (!stop_) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      if (type_ == SOCK_DGRAM) {
        sockaddr_in from{};
        socklen_t len = sizeof from;
        ssize_t n = ::recvfrom(fd_.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n > 0) ::sendto(fd_.get(), buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
        continue;
      }
      UniqueFd c(::accept(fd_.get(), nullptr, nullptr));
      if (c.get() < 0) continue;
      for (;;) {
        ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
        if (n <= 0) break;
        if (::send(c.get(), buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
      }
    }
  }
  int type_;
  UniqueFd fd_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

UniqueFd Connect(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = Loopback(port);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  return fd;
}

// Sends `data`, half-closes, reads everything back.
std::string RoundTrip(int port, const std::string& data) {
  UniqueFd fd = Connect(port);
  std::string got;
  std::thread writer([&] {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::shutdown(fd.get(), SHUT_WR);
  });
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  writer.join();
  return got;
}

PublishedPort Spec(const std::string& key, const std::string& proto, const std::string& netns, int target) {
  return PublishedPort{key, proto, "127.0.0.1", 0, netns, "127.0.0.1", target};
}

TEST(PortPublisher, TcpRelaysBothWaysWithHalfCloseAndLargeData) {
  Echo echo("", SOCK_STREAM);
  PortPublisher pub;
  auto port = pub.Publish(Spec("c1", "tcp", "", echo.port()));
  ASSERT_TRUE(port) << port.error().ToString();
  EXPECT_NE(*port, echo.port());
  EXPECT_EQ(RoundTrip(*port, "hello"), "hello");
  std::string big(8 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  EXPECT_TRUE(RoundTrip(*port, big) == big);
  ASSERT_EQ(pub.List().size(), 1u);
  EXPECT_EQ(pub.List()[0].host_port, *port);
}

// One datagram to the published port comes back from the echo server behind it.
void ExpectUdpEcho(int port, const std::string& text) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = Loopback(port);
  ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::send(fd.get(), text.data(), text.size(), 0), static_cast<ssize_t>(text.size()));
  pollfd p{fd.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  char buf[64];
  ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), text);
}

TEST(PortPublisher, UdpRelaysDatagramsBothWays) {
  Echo echo("", SOCK_DGRAM);
  PortPublisher pub;
  auto port = pub.Publish(Spec("c1", "udp", "", echo.port()));
  ASSERT_TRUE(port) << port.error().ToString();
  ExpectUdpEcho(*port, "ping");
  ExpectUdpEcho(*port, "second client");
}

TEST(PortPublisher, ConflictsAreRefusedAndUnpublishFreesThePortAndItsConnections) {
  Echo echo("", SOCK_STREAM);
  PortPublisher pub;
  auto port = pub.Publish(Spec("c1", "tcp", "", echo.port()));
  ASSERT_TRUE(port);
  PublishedPort again = Spec("c2", "tcp", "", echo.port());
  again.host_port = *port;
  auto dup = pub.Publish(again);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), Code::kConflict);
  EXPECT_NE(dup.error().message().find("already in use"), std::string::npos);
  // A port held by something else on the host.
  UniqueFd other(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = Loopback(0);
  ASSERT_EQ(::bind(other.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(other.get(), 1), 0);
  PublishedPort taken = Spec("c3", "tcp", "", echo.port());
  taken.host_port = PortOf(other.get());
  EXPECT_EQ(pub.Publish(taken).error().code(), Code::kConflict);
  EXPECT_EQ(pub.Publish(Spec("c4", "sctp", "", 1)).error().code(), Code::kInvalidArgument);
  // An open connection ends with Unpublish, and the port can be bound again.
  UniqueFd open = Connect(*port);
  ASSERT_EQ(::send(open.get(), "x", 1, MSG_NOSIGNAL), 1);
  char c;
  ASSERT_EQ(::recv(open.get(), &c, 1, 0), 1);
  pub.Unpublish("c1");
  pollfd p{open.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_EQ(::recv(open.get(), &c, 1, 0), 0);
  EXPECT_TRUE(pub.List().empty());
  again.key = "c1";
  EXPECT_TRUE(pub.Publish(again)) << "the port is free again";
}

// A client that stops reading fills every buffer on the way; Unpublish must still end its relay
// at once (a relay blocked in send() used to hang it for good).
TEST(PortPublisher, UnpublishIsPromptWhenAClientStopsReading) {
  Echo echo("", SOCK_STREAM);
  PortPublisher pub;
  auto port = pub.Publish(Spec("c1", "tcp", "", echo.port()));
  ASSERT_TRUE(port);
  UniqueFd stalled = Connect(*port);
  std::string chunk(65536, 'x');
  size_t sent = 0;
  for (int idle = 0; idle < 3 && sent < (size_t{256} << 20);) {
    ssize_t n = ::send(stalled.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      idle = 0;
      continue;
    }
    pollfd p{stalled.get(), POLLOUT, 0};
    if (::poll(&p, 1, 300) == 0) ++idle;  // nothing moves: every buffer is full
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::thread([&pub, done] {
    pub.Unpublish("c1");
    *done = true;
  }).detach();
  ASSERT_TRUE(testing_util::Eventually([&] { return done->load(); }, std::chrono::seconds(5)))
      << "Unpublish hangs behind a stalled client";
  PublishedPort same = Spec("c1", "tcp", "", echo.port());
  same.host_port = *port;
  auto again = pub.Publish(same);
  EXPECT_TRUE(again) << "the port is free as soon as Unpublish returns";
}

// Through a real namespace that has no route to the host: only the publisher's socket, made
// inside it, reaches the server.
TEST(PortPublisher, ReachesAServerInsideANetworkNamespace) {
  std::string ns = "zvtest-" + RandomHex(4);
  ASSERT_EQ(RunProcess({"ip", "netns", "add", ns})->exit_code, 0);
  struct Cleanup {
    std::string ns;
    ~Cleanup() { (void)RunProcess({"ip", "netns", "del", ns}); }
  } cleanup{ns};
  ASSERT_EQ(RunProcess({"ip", "-n", ns, "link", "set", "lo", "up"})->exit_code, 0);
  Echo tcp(ns, SOCK_STREAM);
  PortPublisher pub;
  auto port = pub.Publish(Spec("c1", "tcp", ns, tcp.port()));
  ASSERT_TRUE(port) << port.error().ToString();
  EXPECT_EQ(RoundTrip(*port, "inside"), "inside");
  Echo udp(ns, SOCK_DGRAM);
  auto uport = pub.Publish(Spec("c1", "udp", ns, udp.port()));
  ASSERT_TRUE(uport) << uport.error().ToString();
  ExpectUdpEcho(*uport, "inside too");
  EXPECT_FALSE(SocketInNamespace("../etc", SOCK_STREAM));
}

}  // namespace
}  // namespace zunvm
