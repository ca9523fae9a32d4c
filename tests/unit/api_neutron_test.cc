// OpenStack mode through the API (fake driver): Neutron ports the Zun driver passes in `nets`
// become NICs for [network] ovs_bridge, are listed in Zun's `addresses` shape, survive a
// restart and are forgotten on delete and detach; bad port entries are 400, a port in use 409.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/fakes/fake_driver.h"
#include "tests/unit/api_fixture.h"

namespace zunvm {
namespace {

using nlohmann::json;
using testing_util::Eventually;

const char* kNet = "6f1e2d3c-4b5a-4978-8a1b-2c3d4e5f6a7b";
const char* kSubnet = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const char* kPort1 = "11111111-2222-4333-8444-555555555555";
const char* kPort2 = "99999999-8888-4777-8666-555555555555";

json Port(const std::string& port, const std::string& ip, const std::string& mac) {
  return {{"network", kNet},
          {"port", port},
          {"mac_address", mac},
          {"fixed_ips", {{{"ip_address", ip}, {"cidr", "10.0.5.0/24"}, {"gateway_ip", "10.0.5.1"}, {"subnet_id", kSubnet}}}},
          {"mtu", 1450},
          {"dns_nameservers", {"10.0.5.2"}},
          {"preserve_on_delete", true}};
}

class NeutronApiTest : public testing_util::ApiTest {
 protected:
  void SetUp() override {
    configure_ = [](Config& c) {
      c.ovs_bridge = "br-int";
      c.dns_nameservers = {"10.9.9.9"};
      c.dns_search = {"example.test"};
    };
    Boot();
  }
  FakeDriver& fake() { return *dynamic_cast<FakeDriver*>(daemon_->driver()); }
  std::string Create(const json& nets, const std::string& name) {
    json body{{"image", "busybox"}, {"command", {"sleep", "100"}}, {"name", name}, {"nets", nets}};
    return Run(body.dump());
  }
};

TEST_F(NeutronApiTest, PortsArePluggedIntoTheOvsBridgeAndListedInZunShape) {
  std::string id = Create(json::array({Port(kPort1, "10.0.5.7", "FA:16:3E:00:00:07")}), "n1");
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "Running"; }));
  json c = Body(Call("GET", "/v1/containers/n1"));
  ASSERT_EQ(c["addresses"].size(), 1u) << c.dump();
  json a = c["addresses"][kNet][0];
  EXPECT_EQ(a["addr"], "10.0.5.7");
  EXPECT_EQ(a["port"], kPort1);
  EXPECT_EQ(a["subnet_id"], kSubnet);
  EXPECT_EQ(a["preserve_on_delete"], true);

  SandboxSpec spec = fake().LastSpec();
  ASSERT_EQ(spec.nics.size(), 1u);
  const SandboxNic& nic = spec.nics[0];
  EXPECT_EQ(nic.ovs_bridge, "br-int");
  EXPECT_EQ(nic.port_id, kPort1);
  EXPECT_EQ(nic.netns, "");
  EXPECT_EQ(nic.mac, "fa:16:3e:00:00:07");
  EXPECT_EQ(nic.address, "10.0.5.7");
  EXPECT_EQ(nic.prefix_len, 24);
  EXPECT_EQ(nic.gateway, "10.0.5.1");
  EXPECT_EQ(nic.mtu, 1450);
  // The port's subnet nameservers first, then zunvmd's own.
  EXPECT_EQ(spec.resolv_conf, "nameserver 10.0.5.2\nnameserver 10.9.9.9\nsearch example.test\n");

  // The same port for another container: 409, nothing stored.
  auto dup = Call("POST", "/v1/containers", json{{"image", "busybox"}, {"name", "n2"},
                                                 {"nets", json::array({Port(kPort1, "10.0.5.8", "fa:16:3e:00:00:08")})}}.dump());
  EXPECT_EQ(dup.status, 409) << dup.body;
  EXPECT_EQ(Call("GET", "/v1/containers/n2").status, 404);

  // Survives a restart.
  daemon_.reset();
  Boot();
  EXPECT_EQ(Body(Call("GET", "/v1/containers/n1"))["addresses"][kNet][0]["port"], kPort1);

  // Detach by port, attach another port through the body extension, detach by network.
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "Running"; }));
  EXPECT_EQ(Call("POST", std::string("/v1/containers/n1/network_detach?port=") + kPort1).status, 202);
  EXPECT_TRUE(Body(Call("GET", "/v1/containers/n1"))["addresses"].empty());
  auto att = Call("POST", "/v1/containers/n1/network_attach", json{{"net", Port(kPort2, "10.0.5.9", "fa:16:3e:00:00:09")}}.dump());
  EXPECT_EQ(att.status, 200) << att.body;
  EXPECT_EQ(Body(Call("GET", "/v1/containers/n1"))["addresses"][kNet][0]["addr"], "10.0.5.9");
  // A zunvmd network next to a Neutron port: 400.
  EXPECT_EQ(Call("POST", "/v1/containers/n1/network_attach?network=blue").status, 400);
  EXPECT_EQ(Call("POST", std::string("/v1/containers/n1/network_detach?network=") + kNet).status, 202);
  EXPECT_TRUE(Body(Call("GET", "/v1/containers/n1"))["addresses"].empty());

  // Delete forgets the ports: the first port can be plugged again.
  ASSERT_EQ(Call("POST", "/v1/containers/n1/network_attach", json{{"net", Port(kPort1, "10.0.5.7", "fa:16:3e:00:00:07")}}.dump()).status, 200);
  ASSERT_EQ(Call("DELETE", "/v1/containers/n1?force=true").status, 204);
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "gone"; }));
  std::string again = Create(json::array({Port(kPort1, "10.0.5.7", "fa:16:3e:00:00:07")}), "n3");
  EXPECT_EQ(Body(Call("GET", "/v1/containers/n3"))["addresses"][kNet][0]["port"], kPort1);
}

TEST_F(NeutronApiTest, BadPortEntriesAre400) {
  auto create = [&](const json& entry) {
    json body{{"image", "busybox"}, {"nets", json::array({entry})}};
    return Call("POST", "/v1/containers", body.dump());
  };
  json good = Port(kPort1, "10.0.5.7", "fa:16:3e:00:00:07");
  std::vector<std::pair<std::string, json>> bad = {
      {"port", "not-a-uuid"},
      {"network", "blue"},
      {"mac_address", "01:00:5e:00:00:01"},  // multicast
      {"mac_address", 7},
      {"fixed_ips", json::array()},
      {"fixed_ips", {{{"ip_address", "10.0.5.7"}, {"cidr", "10.0.5.0/24"}}, {{"ip_address", "10.0.5.8"}, {"cidr", "10.0.5.0/24"}}}},
      {"fixed_ips", {{{"ip_address", "10.0.6.7"}, {"cidr", "10.0.5.0/24"}}}},
      {"fixed_ips", {{{"ip_address", "10.0.5.255"}, {"cidr", "10.0.5.0/24"}}}},
      {"fixed_ips", {{{"ip_address", "fd00::5"}, {"cidr", "fd00::/64"}}}},
      {"fixed_ips", {{{"ip_address", "10.0.5.7"}, {"cidr", "10.0.5.0/24"}, {"gateway_ip", "10.0.7.1"}}}},
      {"fixed_ips", "10.0.5.7"},
      {"mtu", 100000},
      {"mtu", "1450"},
      {"dns_nameservers", {"a.b.c.d"}},
      {"preserve_on_delete", "yes"},
  };
  for (const auto& [key, value] : bad) {
    json e = good;
    e[key] = value;
    auto r = create(e);
    EXPECT_EQ(r.status, 400) << key << "=" << value.dump() << ": " << r.body;
    EXPECT_EQ(Body(r)["errors"][0]["code"], "container.invalid-value") << r.body;
    EXPECT_NE(Body(r)["errors"][0]["detail"].get<std::string>().find(key), std::string::npos) << r.body;
  }
  json unknown = good;
  unknown["binding:host_id"] = "x";
  EXPECT_EQ(create(unknown).status, 400);
  // A port next to a zunvmd network in one create: 400.
  json mixed{{"image", "busybox"}, {"nets", json::array({good, {{"network", "blue"}}})}};
  EXPECT_EQ(Call("POST", "/v1/containers", mixed.dump()).status, 400);
  // Nothing was kept: the good entry is accepted now.
  EXPECT_EQ(create(good).status, 202);
}

using testing_util::ApiTest;

TEST_F(ApiTest, NeutronPortsAre400WithoutOvsBridge) {
  json body{{"image", "busybox"}, {"nets", json::array({Port(kPort1, "10.0.5.7", "fa:16:3e:00:00:07")})}};
  auto r = Call("POST", "/v1/containers", body.dump());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("ovs_bridge"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace zunvm
