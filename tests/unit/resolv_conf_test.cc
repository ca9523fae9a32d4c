// The containers' /etc/resolv.conf: the host's reachable nameservers, Neutron's first.
#include <gtest/gtest.h>

#include "service/resolv_conf.h"

namespace zunvm {
namespace {

TEST(ResolvConf, HostNameserversLessLoopbackAndJunk) {
  std::string host =
      "# generated\nnameserver 127.0.0.53\nnameserver 10.1.2.3\n  nameserver   10.1.2.4  # x\n"
      "nameserver fd00::1\nnameserver 999.1.1.1\nsearch corp.example\noptions edns0\nnameserver";
  EXPECT_EQ(ReachableNameservers(host), (std::vector<std::string>{"10.1.2.3", "10.1.2.4"}));
  EXPECT_TRUE(ReachableNameservers("").empty());
}

TEST(ResolvConf, NicNameserversFirstWithoutRepeats) {
  SandboxNic a, b;
  a.nameservers = {"10.0.5.2", "10.9.9.9"};
  b.nameservers = {"10.0.5.2"};
  EXPECT_EQ(BuildResolvConf({a, b}, {"10.9.9.9", "10.8.8.8"}, {"a.test", "b.test"}),
            "nameserver 10.0.5.2\nnameserver 10.9.9.9\nnameserver 10.8.8.8\nsearch a.test b.test\n");
  EXPECT_EQ(BuildResolvConf({}, {"10.8.8.8"}, {}), "nameserver 10.8.8.8\n");
  // No nameserver at all: the image's own file stays.
  EXPECT_EQ(BuildResolvConf({SandboxNic{}}, {}, {"a.test"}), "");
}

}  // namespace
}  // namespace zunvm
