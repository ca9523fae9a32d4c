// The agent's network set-up, run in a network namespace this test creates, on one end of a
// veth pair with a chosen MAC (the guest's virtio NIC in production). No traffic is sent.
#include "agent/guest/net_config.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <thread>

#include "common/ids.h"
#include "common/subprocess.h"

namespace zunvm::agent {
namespace {

std::string Out(const std::vector<std::string>& argv) {
  auto r = RunProcess(argv);
  return r ? r->output : "";
}

class NetConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ns_ = "zvagent-" + RandomHex(4);
    ASSERT_EQ(RunProcess({"ip", "netns", "add", ns_})->exit_code, 0);
    ASSERT_EQ(RunProcess({"ip", "-n", ns_, "link", "add", "eth7", "type", "veth", "peer", "name", "eth7p"})->exit_code, 0);
    ASSERT_EQ(RunProcess({"ip", "-n", ns_, "link", "set", "eth7p", "up"})->exit_code, 0);
    ASSERT_EQ(RunProcess({"ip", "-n", ns_, "link", "set", "eth7", "address", "52:54:00:ab:cd:ef"})->exit_code, 0);
  }
  void TearDown() override { (void)RunProcess({"ip", "netns", "del", ns_}); }
  // ApplyNetwork on a thread that joined the namespace (setns affects that thread only).
  Result<std::vector<std::string>> ApplyIn(const NetworkSettings& s) {
    Result<std::vector<std::string>> out = Err(Status::Internal("not run"));
    std::thread t([&] {
      int fd = ::open(("/run/netns/" + ns_).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
        out = Err(Status::Internal("setns failed"));
      } else {
        out = ApplyNetwork(s);
      }
      if (fd >= 0) ::close(fd);
    });
    t.join();
    return out;
  }
  std::string ns_;
};

TEST_F(NetConfigTest, NicFoundByMacGetsAddressMtuAndTheDefaultRoute) {
  NetworkSettings s;
  s.nics = {{"52:54:00:AB:CD:EF", "10.77.0.2/24", 1400}};
  s.gateway = "10.77.0.1";
  auto r = ApplyIn(s);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(*r, std::vector<std::string>{"eth7"});
  std::string addr = Out({"ip", "-n", ns_, "addr", "show", "eth7"});
  EXPECT_NE(addr.find("inet 10.77.0.2/24"), std::string::npos) << addr;
  EXPECT_NE(addr.find("mtu 1400"), std::string::npos) << addr;
  EXPECT_NE(addr.find("UP"), std::string::npos) << addr;
  EXPECT_NE(Out({"ip", "-n", ns_, "route"}).find("default via 10.77.0.1 dev eth7"), std::string::npos);
  EXPECT_NE(Out({"ip", "-n", ns_, "addr", "show", "lo"}).find("inet 127.0.0.1/8"), std::string::npos);
  ASSERT_TRUE(ApplyIn(s));  // again: the route already exists, fine
}

TEST_F(NetConfigTest, UnknownMacAndBadAddressesAreErrors) {
  NetworkSettings s;
  s.nics = {{"52:54:00:00:00:01", "10.77.0.2/24", 0}};
  EXPECT_EQ(ApplyIn(s).error().code(), Code::kNotFound);
  for (const char* bad : {"10.77.0.2", "10.77.0.2/33", "10.77.0.2/x", "10.77.0/24", "10.77.0.2/24x"}) {
    s.nics = {{"52:54:00:ab:cd:ef", bad, 0}};
    auto r = ApplyIn(s);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace zunvm::agent
