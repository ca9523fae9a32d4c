// The host side of networks with real namespaces, bridges, veths and a tap (root needed, as
// for every test here). All traffic stays between namespaces this test creates.
#include "network/host_network.h"

#include <gtest/gtest.h>

#include "common/ids.h"
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
  Endpoint Plug(const std::string& network_ns, const std::string& cidr) {
    std::string hex = RandomHex(5);
    Endpoint e{"zvtest-" + hex, "zve" + hex, cidr};
    endpoints_.push_back(e);
    EXPECT_EQ(Exec({"ip", "netns", "add", e.ns}), 0);
    EXPECT_EQ(Exec({"ip", "link", "add", e.ifname, "type", "veth", "peer", "name", "c" + e.ifname}), 0);
    EXPECT_EQ(Exec({"ip", "link", "set", "c" + e.ifname, "netns", e.ns}), 0);
    EXPECT_EQ(Exec({"ip", "-n", e.ns, "addr", "add", cidr, "dev", "c" + e.ifname}), 0);
    EXPECT_EQ(Exec({"ip", "-n", e.ns, "link", "set", "c" + e.ifname, "up"}), 0);
    EXPECT_EQ(Exec({"ip", "-n", e.ns, "link", "set", "lo", "up"}), 0);
    Status st = net_.AttachToNetwork(e.ifname, network_ns);
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
  ASSERT_TRUE(net_.DeleteLink(tap, n).ok());
  EXPECT_NE(Exec({"ip", "-n", n, "link", "show", tap}), 0);
  ASSERT_TRUE(net_.RemoveNetwork(n).ok());
  EXPECT_NE(Exec({"ip", "netns", "exec", n, "true"}), 0);
  ASSERT_TRUE(net_.RemoveNetwork(n).ok());  // idempotent
}

TEST(FakeHostNetwork, TracksNamespacesAndLinks) {
  FakeHostNetwork f;
  ASSERT_TRUE(f.EnsureNetwork("zvn-1", "10.88.0.1/24").ok());
  ASSERT_TRUE(f.CreateTap("zvt1").ok());
  EXPECT_FALSE(f.AttachToNetwork("zvt1", "zvn-2").ok());
  ASSERT_TRUE(f.AttachToNetwork("zvt1", "zvn-1").ok());
  EXPECT_EQ(f.Links().at("zvt1"), "zvn-1");
  ASSERT_TRUE(f.RemoveNetwork("zvn-1").ok());
  EXPECT_TRUE(f.Links().empty());
}

}  // namespace
}  // namespace zunvm
