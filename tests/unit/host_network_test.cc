// The host side of networks with real namespaces, bridges, veths and a tap (root needed, as
// for every test here). All traffic stays between namespaces this test creates.
#include "network/host_network.h"
#include "tests/fakes/fake_host_network.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>

#include "common/fs_at.h"
#include "common/ids.h"
#include "network/port_publisher.h"
#include "common/subprocess.h"

namespace zunvm {
namespace {

int Exec(const std::vector<std::string>& argv) {
  auto r = RunProcess(argv);
  return r ? r->exit_code : -1;
}

std::string Out(const std::vector<std::string>& argv) {
  auto r = RunProcess(argv);
  return r ? r->output : "";
}

// A stand-in container: its own namespace `ns`, a veth whose peer `ifname` will sit on a
// network's bridge, and `cidr` on its end.
struct Endpoint {
  std::string ns, ifname, cidr;
};

class HostNetworkTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const auto& e : endpoints_) {
      Exec({"ip", "netns", "del", e.ns});
      (void)net_.DeleteLink(e.ifname, "");
    }
    for (const auto& n : networks_) (void)net_.RemoveNetwork(n);
  }
  std::string Network(const std::string& gateway_cidr) {
    std::string ns = NetnsName(NewUuid());
    networks_.push_back(ns);
    EXPECT_TRUE(net_.EnsureNetwork(ns, gateway_cidr).ok());
    return ns;
  }
  // A trusted container's NIC (PlugContainerNic): its namespace, a veth onto the bridge.
  Endpoint Plug(const std::string& network_ns, const std::string& cidr, const std::string& gateway = "") {
    std::string uuid = NewUuid();
    Endpoint e{ContainerNetnsName(uuid), TapName(uuid), cidr};
    endpoints_.push_back(e);
    ContainerNicPlug nic{e.ns, network_ns, e.ifname, "eth0", "52:54:00:" + RandomHex(1) + ":" + RandomHex(1) + ":01", cidr,
                         gateway, 1400};
    Status st = net_.PlugContainerNic(nic);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return e;
  }
  bool Ping(const Endpoint& from, const std::string& addr) {
    return Exec({"ip", "netns", "exec", from.ns, "busybox", "ping", "-c", "1", "-W", "3", addr}) == 0;
  }
  IpHostNetwork net_;
  std::vector<std::string> networks_;
  std::vector<Endpoint> endpoints_;
};

TEST(HostNetworkNames, FitLinuxLimits) {
  EXPECT_EQ(NetnsName("0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"), "zvn-0a1b2c3d");
  EXPECT_EQ(ContainerNetnsName("0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"), "zvc-0a1b2c3d4e5f");
  EXPECT_EQ(TapName("0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"), "zvt0a1b2c3d4e5f");
  EXPECT_LE(TapName(NewUuid()).size(), 15u);
}

TEST_F(HostNetworkTest, SameNetworkReachesOtherNetworksDoNot) {
  std::string a = Network("10.201.0.1/24");
  std::string b = Network("10.202.0.1/24");
  ASSERT_TRUE(net_.EnsureNetwork(a, "10.201.0.1/24").ok());  // idempotent
  Endpoint a1 = Plug(a, "10.201.0.2/24"), a2 = Plug(a, "10.201.0.3/24"), b1 = Plug(b, "10.202.0.2/24");
  EXPECT_NE(Out({"ip", "-n", a, "link", "show", "master", "br0"}).find(a1.ifname), std::string::npos);
  EXPECT_TRUE(Ping(a1, "10.201.0.3"));  // same bridge
  EXPECT_TRUE(Ping(a1, "10.201.0.1"));  // the gateway on br0
  EXPECT_TRUE(Ping(b1, "10.202.0.1"));
  EXPECT_FALSE(Ping(a1, "10.202.0.2"));  // another network: no route at all
  EXPECT_FALSE(Ping(b1, "10.201.0.2"));
  (void)a2;
}

// A trusted container's NIC: the peer is eth0 in the container's namespace with the port's
// MAC, MTU, address and default route, the host end on br0; plugging again changes nothing;
// removing the namespace takes both ends.
TEST_F(HostNetworkTest, ContainerNicIsAVethFromItsNamespaceOntoTheBridge) {
  std::string n = Network("10.204.0.1/24");
  std::string uuid = NewUuid();
  ContainerNicPlug nic{ContainerNetnsName(uuid), n, TapName(uuid), "eth0", "52:54:00:0a:0b:0c", "10.204.0.7/24",
                       "10.204.0.1", 1400};
  endpoints_.push_back({nic.container_netns, nic.host_if, nic.cidr});
  ASSERT_TRUE(net_.PlugContainerNic(nic).ok());
  ASSERT_TRUE(net_.PlugContainerNic(nic).ok());  // a retry
  std::string link = Out({"ip", "-n", nic.container_netns, "link", "show", "eth0"});
  EXPECT_NE(link.find("52:54:00:0a:0b:0c"), std::string::npos) << link;
  EXPECT_NE(link.find("mtu 1400"), std::string::npos) << link;
  EXPECT_NE(Out({"ip", "-n", nic.container_netns, "route"}).find("default via 10.204.0.1 dev eth0"), std::string::npos);
  EXPECT_NE(Out({"ip", "-n", n, "link", "show", "up", "master", "br0"}).find(nic.host_if), std::string::npos);
  EXPECT_EQ(Exec({"ip", "netns", "exec", nic.container_netns, "busybox", "ping", "-c", "1", "-W", "3", "10.204.0.1"}), 0);
  EXPECT_NE(Exec({"ip", "link", "show", nic.host_if}), 0);  // nothing in the host's namespace
  ASSERT_TRUE(net_.RemoveContainerNetns(nic.container_netns).ok());
  EXPECT_NE(Exec({"ip", "netns", "exec", nic.container_netns, "true"}), 0);
  EXPECT_NE(Exec({"ip", "-n", n, "link", "show", nic.host_if}), 0);  // the veth went with it
  ASSERT_TRUE(net_.RemoveContainerNetns(nic.container_netns).ok());  // idempotent
}

TEST_F(HostNetworkTest, TapMovesOntoTheBridgeAndIsDeleted) {
  std::string n = Network("10.203.0.1/24");
  std::string tap = TapName(NewUuid());
  ASSERT_TRUE(net_.CreateTap(tap).ok());
  ASSERT_TRUE(net_.CreateTap(tap).ok());  // idempotent
  EXPECT_EQ(Exec({"ip", "link", "show", tap}), 0);
  Status st = net_.AttachToNetwork(tap, n);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_NE(Exec({"ip", "link", "show", tap}), 0);  // gone from the host namespace
  EXPECT_NE(Out({"ip", "-n", n, "link", "show", "master", "br0"}).find(tap), std::string::npos);
  ASSERT_TRUE(net_.AttachToNetwork(tap, n).ok());  // again (a retry): already there
  EXPECT_NE(Out({"ip", "-n", n, "link", "show", "up", "master", "br0"}).find(tap), std::string::npos);
  EXPECT_FALSE(net_.AttachToNetwork("zvtnosuchlink", n).ok());
  ASSERT_TRUE(net_.DeleteLink(tap, n).ok());
  EXPECT_NE(Exec({"ip", "-n", n, "link", "show", tap}), 0);
  ASSERT_TRUE(net_.RemoveNetwork(n).ok());
  EXPECT_NE(Exec({"ip", "netns", "exec", n, "true"}), 0);
  ASSERT_TRUE(net_.RemoveNetwork(n).ok());  // idempotent
}

// Whether a TCP connection from inside namespace `ns` to ip:port completes within 3 s.
bool ConnectsFrom(const std::string& ns, const std::string& ip, int port) {
  auto s = SocketInNamespace(ns, SOCK_STREAM);
  if (!s) return false;
  fsat::UniqueFd fd(*s);
  ::fcntl(fd.get(), F_SETFL, O_NONBLOCK);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &to.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) return true;
  pollfd p{fd.get(), POLLOUT, 0};
  if (::poll(&p, 1, 3000) != 1) return false;
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0;
}

// With NAT a container reaches an "outside" network — a namespace this test makes behind a veth
// on the host, 198.51.100.0/24 (TEST-NET-2) — with the host's address as its source; it still
// cannot open connections to the host itself, nor reach another network through the host.
TEST_F(HostNetworkTest, NatReachesOutsideButNeitherTheHostNorOtherNetworks) {
  std::ifstream fwd_in("/proc/sys/net/ipv4/ip_forward");
  std::string forwarding;
  std::getline(fwd_in, forwarding);
  std::string a = Network("10.204.0.1/24"), b = Network("10.205.0.1/24");
  Endpoint a1 = Plug(a, "10.204.0.2/24"), b1 = Plug(b, "10.205.0.2/24");
  EXPECT_EQ(Exec({"ip", "-n", a1.ns, "route", "add", "default", "via", "10.204.0.1"}), 0);
  EXPECT_EQ(Exec({"ip", "-n", b1.ns, "route", "add", "default", "via", "10.205.0.1"}), 0);
  std::string hex = RandomHex(4);
  std::string outside = "zvtest-o" + hex, veth = "zvo" + hex;
  struct Cleanup {
    std::vector<std::vector<std::string>> cmds;
    ~Cleanup() {
      for (const auto& c : cmds) (void)RunProcess(c);
    }
  } cleanup{{{"ip", "netns", "del", outside}, {"ip", "link", "del", veth}}};
  ASSERT_EQ(Exec({"ip", "netns", "add", outside}), 0);
  ASSERT_EQ(Exec({"ip", "link", "add", veth, "type", "veth", "peer", "name", "c" + veth}), 0);
  ASSERT_EQ(Exec({"ip", "link", "set", "c" + veth, "netns", outside}), 0);
  ASSERT_EQ(Exec({"ip", "addr", "add", "198.51.100.1/24", "dev", veth}), 0);
  ASSERT_EQ(Exec({"ip", "link", "set", veth, "up"}), 0);
  ASSERT_EQ(Exec({"ip", "-n", outside, "addr", "add", "198.51.100.2/24", "dev", "c" + veth}), 0);
  ASSERT_EQ(Exec({"ip", "-n", outside, "link", "set", "c" + veth, "up"}), 0);
  EXPECT_FALSE(Ping(a1, "198.51.100.2"));  // NAT is off: no way out

  Status st = net_.EnableNat(a, "10.204.0.0/24");
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(net_.EnableNat(a, "10.204.0.0/24").ok());  // idempotent
  ASSERT_TRUE(net_.EnableNat(b, "10.205.0.0/24").ok());
  cleanup.cmds.push_back({"sh", "-c", "echo " + forwarding + " > /proc/sys/net/ipv4/ip_forward"});
  // `outside` has no route back to 10.204.0.0/24: an answer means the source was the host's.
  EXPECT_TRUE(Ping(a1, "198.51.100.2"));
  EXPECT_TRUE(Ping(b1, "198.51.100.2"));
  EXPECT_FALSE(Ping(a1, "10.205.0.2"));    // another network, even through the host
  EXPECT_FALSE(Ping(a1, "198.51.100.1"));  // the host itself
  // A service on the host (any address): reachable from `outside`, not from a container.
  int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(l, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(l, reinterpret_cast<sockaddr*>(&addr), &len);
  EXPECT_TRUE(ConnectsFrom(outside, "198.51.100.1", ntohs(addr.sin_port)));
  EXPECT_FALSE(ConnectsFrom(a1.ns, "198.51.100.1", ntohs(addr.sin_port)));
  ::close(l);

  ASSERT_TRUE(net_.DisableNat(a, "10.204.0.0/24").ok());
  ASSERT_TRUE(net_.DisableNat(b, "10.205.0.0/24").ok());
  EXPECT_NE(Exec({"ip", "link", "show", NatLinkName(a)}), 0);
  EXPECT_EQ(Out({"nft", "list", "chain", "inet", "zunvm", "postrouting"}).find("10.204.0.0/24"), std::string::npos);
  EXPECT_FALSE(Ping(a1, "198.51.100.2"));
}

TEST(FakeHostNetwork, TracksNamespacesAndLinks) {
  FakeHostNetwork f;
  ASSERT_TRUE(f.EnsureNetwork("zvn-1", "10.88.0.1/24").ok());
  ASSERT_TRUE(f.CreateTap("zvt1").ok());
  EXPECT_FALSE(f.AttachToNetwork("zvt1", "zvn-2").ok());
  ASSERT_TRUE(f.AttachToNetwork("zvt1", "zvn-1").ok());
  EXPECT_EQ(f.Links().at("zvt1"), "zvn-1");
  EXPECT_FALSE(f.EnableNat("zvn-2", "10.89.0.0/24").ok());
  ASSERT_TRUE(f.EnableNat("zvn-1", "10.88.0.0/24").ok());
  EXPECT_EQ(f.Nat().at("zvn-1"), "10.88.0.0/24");
  ASSERT_TRUE(f.DisableNat("zvn-1", "10.88.0.0/24").ok());
  EXPECT_TRUE(f.Nat().empty());
  ASSERT_TRUE(f.RemoveNetwork("zvn-1").ok());
  EXPECT_TRUE(f.Links().empty());
}

}  // namespace
}  // namespace zunvm
