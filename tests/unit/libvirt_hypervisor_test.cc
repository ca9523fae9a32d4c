// LibvirtHypervisor against libvirt's in-process test driver (test:///default): the real C API
// calls, error mapping, our metadata and lifecycle events, without a daemon or a VM.
#include <gtest/gtest.h>
#include <libvirt/virterror.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "driver/libvirt/domain_xml.h"
#include "driver/libvirt/libvirt_hypervisor.h"

namespace zunvm::libvirt {
namespace {

std::string TestDomain(const std::string& uuid, const std::string& instance) {
  DomainConfig c;
  c.uuid = uuid;
  c.instance = instance;
  c.virt_type = "test";
  c.kernel = "/nonexistent/vmlinux";
  c.initrd = "/nonexistent/initrd";
  c.cmdline = "quiet";
  c.console_log = "/tmp/console.log";
  c.agent_socket = "/tmp/agent.sock";
  return BuildDomainXml(c);
}

TEST(LibvirtHypervisor, LifecycleMetadataAndErrors) {
  LibvirtHypervisor hv("test:///default");
  std::mutex mu;
  std::vector<DomainEvent> events;
  hv.SetEventHandler([&](const DomainEvent& e) {
    std::lock_guard<std::mutex> l(mu);
    events.push_back(e);
  });
  ASSERT_TRUE(hv.Open().ok());
  const std::string a = "11111111-2222-3333-4444-555555555555";
  const std::string b = "66666666-2222-3333-4444-555555555555";
  Status st = hv.Create(TestDomain(a, "me"));
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(hv.Create(TestDomain(b, "someone-else")).ok());

  auto ours = hv.ListOurs();
  ASSERT_TRUE(ours) << ours.error().ToString();
  int seen = 0;
  for (const auto& d : *ours) {
    if (d.container_uuid == a) {
      EXPECT_EQ(d.instance, "me");
      EXPECT_EQ(d.name, DomainName(a));
      EXPECT_EQ(d.state, DomainState::kRunning);
      ++seen;
    } else if (d.container_uuid == b) {
      EXPECT_EQ(d.instance, "someone-else");
      ++seen;
    }
  }
  EXPECT_EQ(seen, 2);
  // test:///default's own domain "test" has no metadata of ours: never listed.
  for (const auto& d : *ours) EXPECT_NE(d.name, "test");

  ASSERT_TRUE(hv.Suspend(DomainName(a)).ok());
  EXPECT_EQ(*hv.State(DomainName(a)), DomainState::kPaused);
  EXPECT_FALSE(hv.Suspend(DomainName(a)).ok());  // already paused
  ASSERT_TRUE(hv.Resume(DomainName(a)).ok());
  EXPECT_EQ(*hv.State(DomainName(a)), DomainState::kRunning);

  ASSERT_TRUE(hv.Destroy(DomainName(a)).ok());
  ASSERT_TRUE(hv.Destroy(DomainName(b)).ok());
  EXPECT_EQ(hv.Destroy(DomainName(a)).code(), Code::kNotFound);
  EXPECT_EQ(hv.State(DomainName(a)).error().code(), Code::kNotFound);

  // The stop events arrive on libvirt's event thread.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    {
      std::lock_guard<std::mutex> l(mu);
      int stopped = 0;
      for (const auto& e : events) stopped += e.stopped && (e.name == DomainName(a) || e.name == DomainName(b));
      if (stopped == 2) break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no stop events";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(events.front().reason, "the VM was destroyed");
}

TEST(LibvirtHypervisor, BadDefinitionIsAnErrorNotACrash) {
  LibvirtHypervisor hv("test:///default");
  ASSERT_TRUE(hv.Open().ok());
  Status st = hv.Create("<domain type='test'><name>zunvm-x</name>");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cannot start the VM"), std::string::npos);
}

TEST(LibvirtHypervisor, UnreachableLibvirtIsUnavailable) {
  LibvirtHypervisor hv("qemu+unix:///system?socket=/nonexistent/libvirt-sock");
  Status st = hv.Open();
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(hv.Create(TestDomain("11111111-2222-3333-4444-555555555555", "me")).code(), Code::kUnavailable);
}

// libvirtd SIGKILLed during a call: libvirt calls the call's failure on the closed connection
// an internal error ("client socket is closed"). It is Unavailable (503, "try again"), as when
// the daemon cannot be reached, not an Internal error of ours.
TEST(LibvirtHypervisor, AnErrorOnALostConnectionIsUnavailable) {
  Status lost = LibvirtErrorStatus(VIR_ERR_INTERNAL_ERROR, "cannot start the VM: internal error: client socket is closed",
                                   /*connection_alive=*/false);
  EXPECT_EQ(lost.code(), Code::kUnavailable);
  EXPECT_NE(lost.message().find("client socket is closed (the connection to libvirt was lost)"), std::string::npos);
  EXPECT_EQ(LibvirtErrorStatus(VIR_ERR_NO_DOMAIN, "gone", false).code(), Code::kUnavailable);
  // On a live connection libvirt's code decides.
  EXPECT_EQ(LibvirtErrorStatus(VIR_ERR_INTERNAL_ERROR, "bug", true).code(), Code::kInternal);
  EXPECT_EQ(LibvirtErrorStatus(VIR_ERR_NO_DOMAIN, "gone", true).code(), Code::kNotFound);
  EXPECT_EQ(LibvirtErrorStatus(VIR_ERR_OPERATION_INVALID, "paused", true).code(), Code::kConflict);
  EXPECT_EQ(LibvirtErrorStatus(VIR_ERR_SYSTEM_ERROR, "refused", true).code(), Code::kUnavailable);
}

}  // namespace
}  // namespace zunvm::libvirt
