// The libvirt driver's own logic, in seconds and without VMs: LibvirtDriver on a
// FakeHypervisor whose "VMs" are the real zunvm-agent in namespaces of their own, with the
// domain's disks as loop devices and its NICs as veths (tests/fakes/fake_hypervisor.h).
// Boot and the domain definition, the main process's output and exit, adoption after a zunvmd
// restart with the output produced meanwhile replayed, a VM lost behind the driver's back, and
// NIC hot-plug. What only a VM shows (the guest kernel, virtio, hot-plug timing) stays in the
// real-VM tests (tests/e2e/test_vm_*.py, tests/integration).
//
// Needs root (loop devices, namespaces) and the test root disk (guest/build-test-rootfs.sh).
#include <gtest/gtest.h>

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/ids.h"
#include "common/subprocess.h"
#include "driver/libvirt/libvirt_driver.h"
#include "tests/fakes/fake_host_network.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/unit/test_util.h"

namespace zunvm::libvirt {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

// What the driver tells the service, kept for the test to wait on.
class Recorder : public DriverEvents {
 public:
  struct Chunk {
    std::string data;
    OutputMark mark;
  };
  void OnOutput(const std::string& uuid, Stream, const std::string& data, const OutputMark& mark) override {
    Note([&] { output[uuid].push_back({data, mark}); });
  }
  void OnExit(const std::string& uuid, int code) override { Note([&] { exits[uuid].push_back(code); }); }
  void OnLost(const std::string& uuid, const std::string& reason) override { Note([&] { lost[uuid] = reason; }); }

  // Waits (at most 30 s) until `done` holds; it runs under the recorder's lock.
  bool WaitFor(const std::function<bool()>& done) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, seconds(30), done);
  }
  // The main process's output of `uuid`, each chunk once (a replayed chunk has a mark seen before).
  std::string Output(const std::string& uuid) {
    std::set<std::pair<std::string, uint64_t>> seen;
    std::string out;
    for (const auto& c : output[uuid]) {
      if (seen.insert({c.mark.boot, c.mark.seq}).second) out += c.data;
    }
    return out;
  }

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::vector<Chunk>> output;
  std::map<std::string, std::vector<int>> exits;
  std::map<std::string, std::string> lost;

 private:
  void Note(const std::function<void()>& f) {
    {
      std::lock_guard<std::mutex> lock(mu);
      f();
    }
    cv.notify_all();
  }
};

// The pid of a process whose command line is exactly `argv` (0: none).
pid_t PidOf(const std::vector<std::string>& argv) {
  std::string want;
  for (const auto& a : argv) want += a + '\0';
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmd == want) return std::stoi(name);
  }
  return 0;
}

class LibvirtDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (loop devices, namespaces)";
    if (!fs::exists(ZUNVM_TEST_ROOTFS)) GTEST_SKIP() << "no test root disk: run guest/build-test-rootfs.sh";
    char tmpl[] = "/tmp/zunvm-drvtest-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    state_ = tmpl;
    ::chmod(state_.c_str(), 0755);
    std::random_device rd;
    token_ = std::to_string(100000 + rd() % 800000);  // a sleep only this test runs
  }
  void TearDown() override {
    driver_.reset();
    std::error_code ec;
    if (!state_.empty()) fs::remove_all(state_, ec);
  }

  // A driver on a fresh fake hypervisor (holding `adopt`, the VMs a previous one left).
  void StartDriver(std::vector<std::shared_ptr<FakeHypervisor::Domain>> adopt = {}) {
    auto hv = std::make_unique<FakeHypervisor>(ZUNVM_AGENT_BIN);
    hv->Adopt(std::move(adopt));
    auto net = std::make_unique<FakeHostNetwork>();
    hv_ = hv.get();
    net_ = net.get();
    LibvirtDriverOptions opts;
    opts.state_dir = state_;
    opts.virt_type = "qemu";
    opts.kernel = state_ + "/vmlinux";
    opts.initrd = state_ + "/initramfs.cpio";
    opts.boot_timeout = seconds(20);
    driver_ = std::make_unique<LibvirtDriver>(opts, std::move(hv), std::move(net));
    driver_->SetEvents(&events_);
    ASSERT_TRUE(driver_->Init().ok());
  }
  // A zunvmd restart: the driver goes, its VMs stay for the next one.
  void RestartDriver() {
    auto vms = hv_->Release();
    driver_.reset();
    StartDriver(std::move(vms));
  }

  SandboxSpec Spec(std::vector<std::string> argv) {
    SandboxSpec s;
    s.uuid = NewUuid();
    s.name = "c";
    s.hostname = "box";
    s.argv = std::move(argv);
    s.memory_mib = 64;
    s.image_disk = ZUNVM_TEST_ROOTFS;
    s.upper_disk = state_ + "/" + s.uuid + ".upper.ext4";
    auto r = RunProcess({"mkfs.ext4", "-q", "-F", s.upper_disk, "32M"});
    EXPECT_TRUE(r && r->exit_code == 0) << (r ? r->output : r.error().ToString());
    return s;
  }

  std::string state_, token_;
  Recorder events_;
  FakeHypervisor* hv_ = nullptr;
  FakeHostNetwork* net_ = nullptr;
  std::unique_ptr<LibvirtDriver> driver_;
};

TEST_F(LibvirtDriverTest, BootsTheDomainRunsTheContainerAndShutsDownWhenItExits) {
  StartDriver();
  SandboxSpec s = Spec({"/bin/sh", "-c", "echo hello from $(hostname); exit 3"});
  auto created = driver_->Create(s);
  ASSERT_TRUE(created) << created.error().ToString();
  EXPECT_EQ(created->state, SandboxState::kCreated);
  // The definition libvirt gets: our name and metadata, both disks by serial, the agent channel.
  auto defs = hv_->Definitions();
  ASSERT_EQ(defs.size(), 1u);
  EXPECT_NE(defs[0].find("<name>zunvm-" + s.uuid + "</name>"), std::string::npos);
  EXPECT_NE(defs[0].find("<domain type='qemu'"), std::string::npos) << defs[0];
  EXPECT_NE(defs[0].find("<serial>rootfs</serial>"), std::string::npos);
  EXPECT_NE(defs[0].find("<serial>upper</serial>"), std::string::npos);
  EXPECT_NE(defs[0].find(driver_->SandboxDir(s.uuid) + "/agent.sock"), std::string::npos);
  auto listed = hv_->ListOurs();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].container_uuid, s.uuid);

  ASSERT_TRUE(driver_->Start(s.uuid).ok());
  ASSERT_TRUE(events_.WaitFor([&] { return !events_.exits[s.uuid].empty(); }));
  EXPECT_EQ(events_.exits[s.uuid], std::vector<int>{3});
  EXPECT_EQ(events_.Output(s.uuid), "hello from box\n");
  auto info = driver_->Inspect(s.uuid);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, SandboxState::kStopped);
  EXPECT_EQ(info->exit_code, 3);
  // The VM is powered off once its container exited, and a lost VM was not reported.
  EXPECT_TRUE(hv_->ListOurs()->empty());
  EXPECT_TRUE(events_.lost.empty());

  // Starting again boots a new VM on the same writable disk.
  ASSERT_TRUE(driver_->Start(s.uuid).ok());
  ASSERT_TRUE(events_.WaitFor([&] { return events_.exits[s.uuid].size() == 2; }));
  EXPECT_EQ(hv_->Definitions().size(), 2u);
  EXPECT_TRUE(driver_->Delete(s.uuid, true).ok());
  EXPECT_FALSE(fs::exists(driver_->SandboxDir(s.uuid)));
}

TEST_F(LibvirtDriverTest, ExecAndFilesReachTheContainer) {
  StartDriver();
  SandboxSpec s = Spec({"/bin/sleep", token_});
  ASSERT_TRUE(driver_->Create(s));
  ASSERT_TRUE(driver_->Start(s.uuid).ok());
  auto r = driver_->Exec(s.uuid, {"/bin/sh", "-c", "echo $((6*7)) > /answer; cat /answer; hostname"}, seconds(10));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->output, "42\nbox\n");
  auto a = driver_->GetArchive(s.uuid, "/answer");
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->stat.size, 3);
  // sleep as the container's PID 1 ignores SIGTERM: Stop kills it when the timeout is up.
  auto stopped = driver_->Stop(s.uuid, seconds(1));
  ASSERT_TRUE(stopped) << stopped.error().ToString();
  EXPECT_EQ(*stopped, 128 + 9);
  EXPECT_TRUE(events_.exits[s.uuid].empty());  // Stop's exit is the caller's, not an event
  // The file survives on the writable disk; reading it boots a VM for the stopped sandbox.
  auto again = driver_->GetArchive(s.uuid, "/answer");
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->stat.size, 3);
}

TEST_F(LibvirtDriverTest, VolumesAndInjectedFilesReachTheContainer) {
  StartDriver();
  SandboxSpec s = Spec({"/bin/sleep", token_});
  for (const char* v : {"rw", "ro"}) {
    auto r = RunProcess({"mkfs.ext4", "-q", "-F", state_ + "/" + v + ".ext4", "16M"});
    ASSERT_TRUE(r && r->exit_code == 0);
  }
  s.volumes = {{state_ + "/rw.ext4", false, "vol-rw", "ext4", "/data", false},
               {state_ + "/ro.ext4", false, "vol-ro", "ext4", "/srv/ro", true}};
  s.files = {{"/etc/app.conf", "key=value\n"}};
  auto created = driver_->Create(s);
  ASSERT_TRUE(created) << created.error().ToString();
  std::string def = hv_->Definitions().back();
  EXPECT_NE(def.find("<serial>vol-rw</serial>"), std::string::npos) << def;
  EXPECT_NE(def.find("<serial>vol-ro</serial>"), std::string::npos) << def;
  ASSERT_TRUE(driver_->Start(s.uuid).ok());
  auto r = driver_->Exec(s.uuid, {"/bin/sh", "-c", "echo kept > /data/f && cat /etc/app.conf && "
                                                   "! touch /srv/ro/x 2>/dev/null && echo ro-refused"}, seconds(10));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->output, "key=value\nro-refused\n");
  // A new VM (stop, start) mounts the same volume again: the data is on the volume's disk.
  ASSERT_TRUE(driver_->Stop(s.uuid, seconds(1)));
  ASSERT_TRUE(driver_->Start(s.uuid).ok());
  r = driver_->Exec(s.uuid, {"/bin/cat", "/data/f"}, seconds(10));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->output, "kept\n");
  EXPECT_TRUE(driver_->Delete(s.uuid, true).ok());

  // Bad volumes are refused before anything is made.
  SandboxSpec bad = Spec({"/bin/true"});
  bad.volumes = {{state_ + "/rw.ext4", false, "upper", "ext4", "/data", false}};
  auto refused = driver_->Create(bad);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Code::kInvalidArgument);
}

TEST_F(LibvirtDriverTest, APodsMembersShareItsVmAndLiveOnTheirOwn) {
  StartDriver();
  SandboxSpec pod;
  pod.uuid = NewUuid();
  pod.name = "pod";
  pod.hostname = "pod";
  pod.memory_mib = 128;
  auto mk = RunProcess({"mkfs.ext4", "-q", "-F", state_ + "/vol.ext4", "16M"});
  ASSERT_TRUE(mk && mk->exit_code == 0);
  pod.volumes = {{state_ + "/vol.ext4", false, "vol-a", "ext4", "/unused", false}};
  SandboxSpec writer = Spec({"/bin/sh", "-c", "echo one > /data/f; echo one; exit 4"});
  SandboxSpec reader = Spec({"/bin/sleep", token_});
  writer.volumes = {{"", false, "vol-a", "ext4", "/data", false}};
  reader.volumes = {{"", false, "vol-a", "ext4", "/data", true}};
  pod.members = {writer, reader};
  auto created = driver_->Create(pod);
  ASSERT_TRUE(created) << created.error().ToString();
  std::string def = hv_->Definitions().back();
  for (const char* serial : {"img0", "up0", "up1", "vol-a"}) {
    EXPECT_NE(def.find(std::string("<serial>") + serial + "</serial>"), std::string::npos) << serial << def;
  }
  EXPECT_EQ(def.find("<serial>img1</serial>"), std::string::npos);  // one image, one disk
  ASSERT_TRUE(driver_->Start(reader.uuid).ok());
  ASSERT_TRUE(driver_->Start(writer.uuid).ok());
  ASSERT_TRUE(events_.WaitFor([&] { return events_.exits[writer.uuid] == std::vector<int>{4}; }));
  EXPECT_TRUE(events_.WaitFor([&] { return events_.Output(writer.uuid) == "one\n"; }));
  // The writer's exit left the VM and the reader running; the reader sees the file, read-only.
  EXPECT_EQ(driver_->Inspect(writer.uuid)->state, SandboxState::kStopped);
  EXPECT_EQ(driver_->Inspect(reader.uuid)->state, SandboxState::kRunning);
  auto r = driver_->Exec(reader.uuid, {"/bin/sh", "-c", "cat /data/f; hostname; touch /data/x 2>/dev/null || echo ro"}, seconds(10));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->output, "one\npod\nro\n");
  // A member starts again in the same VM.
  ASSERT_TRUE(driver_->Start(writer.uuid).ok());
  ASSERT_TRUE(events_.WaitFor([&] { return events_.exits[writer.uuid].size() == 2; }));
  EXPECT_EQ(hv_->Calls("create"), 1);
  EXPECT_EQ(driver_->Delete(reader.uuid, true).code(), Code::kConflict);
  // A restart adopts the pod and its members as they were.
  RestartDriver();
  EXPECT_EQ(driver_->Inspect(writer.uuid)->state, SandboxState::kStopped);
  EXPECT_EQ(driver_->Inspect(reader.uuid)->state, SandboxState::kRunning);
  r = driver_->Exec(reader.uuid, {"/bin/cat", "/data/f"}, seconds(10));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->output, "one\n");
  ASSERT_TRUE(driver_->Stop(reader.uuid, seconds(1)));
  EXPECT_EQ(driver_->Inspect(reader.uuid)->state, SandboxState::kStopped);
  // The pod goes with its members.
  ASSERT_TRUE(driver_->Delete(pod.uuid, true).ok());
  EXPECT_EQ(driver_->Inspect(reader.uuid).error().code(), Code::kNotFound);
  EXPECT_EQ(driver_->Inspect(pod.uuid).error().code(), Code::kNotFound);
}

TEST_F(LibvirtDriverTest, AdoptsItsVmsAfterARestartAndReplaysWhatItMissed) {
  StartDriver();
  // The main process writes, waits for /go (which the test makes while no zunvmd is up),
  // writes again and sleeps.
  SandboxSpec s = Spec({"/bin/sh", "-c",
                        "echo before; while [ ! -e /go ]; do sleep 0.05; done; echo after; exec sleep " + token_});
  ASSERT_TRUE(driver_->Create(s));
  ASSERT_TRUE(driver_->Start(s.uuid).ok());
  ASSERT_TRUE(events_.WaitFor([&] { return events_.Output(s.uuid) == "before\n"; }));

  auto vms = hv_->Release();
  ASSERT_EQ(vms.size(), 1u);
  driver_.reset();  // zunvmd is down; the VM runs on
  pid_t sh = PidOf(s.argv);
  ASSERT_GT(sh, 0);
  std::ofstream("/proc/" + std::to_string(sh) + "/root/go") << "";
  ASSERT_TRUE(testing_util::Eventually([&] { return PidOf({"sleep", token_}) > 0; }, seconds(30))) << "the container never got past /go";

  StartDriver(std::move(vms));
  auto info = driver_->Inspect(s.uuid);
  ASSERT_TRUE(info) << info.error().ToString();
  EXPECT_EQ(info->state, SandboxState::kRunning);
  ASSERT_TRUE(events_.WaitFor([&] { return events_.Output(s.uuid) == "before\nafter\n"; }))
      << events_.Output(s.uuid);
  EXPECT_EQ(hv_->Calls("create"), 0);  // adopted, not booted again
  // The adopted VM is driven as before.
  auto r = driver_->Exec(s.uuid, {"cat", "/go"}, seconds(10));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->exit_code, 0);
  ASSERT_TRUE(driver_->Kill(s.uuid, 9).ok());
  ASSERT_TRUE(events_.WaitFor([&] { return !events_.exits[s.uuid].empty(); }));
  EXPECT_EQ(events_.exits[s.uuid], std::vector<int>{128 + 9});
  EXPECT_TRUE(events_.lost.empty());
}

TEST_F(LibvirtDriverTest, AVmThatDiesIsReportedLost) {
  StartDriver();
  SandboxSpec s = Spec({"/bin/sleep", token_});
  ASSERT_TRUE(driver_->Create(s));
  ASSERT_TRUE(driver_->Start(s.uuid).ok());
  ASSERT_TRUE(hv_->Crash("zunvm-" + s.uuid).ok());
  ASSERT_TRUE(events_.WaitFor([&] { return events_.lost.count(s.uuid) > 0; }));
  EXPECT_NE(events_.lost[s.uuid].find("stopped unexpectedly"), std::string::npos);
  EXPECT_TRUE(events_.exits[s.uuid].empty());
  auto info = driver_->Inspect(s.uuid);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code(), Code::kNotFound);
  // A lost sandbox is made again in place.
  auto again = driver_->Create(s);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_TRUE(driver_->Delete(s.uuid, true).ok());
}

TEST_F(LibvirtDriverTest, AtStartUpVanishedVmsAreLostAndStrayDomainsDestroyed) {
  StartDriver();
  SandboxSpec gone = Spec({"/bin/sleep", token_});
  SandboxSpec stray = Spec({"/bin/sleep", token_});
  ASSERT_TRUE(driver_->Create(gone));
  ASSERT_TRUE(driver_->Create(stray));
  auto vms = hv_->Release();
  ASSERT_EQ(vms.size(), 2u);
  driver_.reset();
  // While zunvmd is down, one VM dies (the host rebooted it away) and the other's sandbox
  // directory is removed (its zunvmd state is gone).
  std::vector<std::shared_ptr<FakeHypervisor::Domain>> keep;
  for (auto& vm : vms) {
    if (vm->uuid == gone.uuid) {
      FakeHypervisor dying(ZUNVM_AGENT_BIN);
      dying.Adopt({vm});
    } else {
      keep.push_back(vm);
    }
  }
  fs::remove_all(state_ + "/sandboxes/" + stray.uuid);
  StartDriver(std::move(keep));
  auto info = driver_->Inspect(gone.uuid);
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message().find("gone when zunvmd started"), std::string::npos);
  EXPECT_TRUE(hv_->ListOurs()->empty());  // the stray domain was destroyed
  EXPECT_EQ(hv_->Calls("destroy"), 1);
}

// libvirtd away and back (docs/operator.md §6). Meanwhile the running VM answers exec, a create
// is Unavailable, and a forced delete cannot destroy its VM: that VM is destroyed once the
// connection is back, and the running one is left alone.
TEST_F(LibvirtDriverTest, AVmOutlivingItsSandboxWhileLibvirtWasAwayIsDestroyedOnReconnect) {
  StartDriver();
  SandboxSpec kept = Spec({"/bin/sleep", token_});
  SandboxSpec gone = Spec({"/bin/sleep", token_});
  for (const auto& s : {kept, gone}) {
    ASSERT_TRUE(driver_->Create(s));
    ASSERT_TRUE(driver_->Start(s.uuid).ok());
  }
  hv_->SetAway(true);
  auto r = driver_->Exec(kept.uuid, {"/bin/echo", "no libvirt needed"}, seconds(10));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->output, "no libvirt needed\n");
  SandboxSpec refused = Spec({"/bin/sleep", token_});
  auto created = driver_->Create(refused);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code(), Code::kUnavailable) << created.error().ToString();
  EXPECT_FALSE(driver_->Inspect(refused.uuid));
  ASSERT_TRUE(driver_->Delete(gone.uuid, true).ok());
  hv_->SetAway(false);
  EXPECT_EQ(hv_->ListOurs()->size(), 2u);  // the deleted sandbox's VM runs on
  hv_->Reconnected();
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (hv_->ListOurs()->size() != 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto left = hv_->ListOurs();
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].container_uuid, kept.uuid);
  EXPECT_EQ(driver_->Inspect(kept.uuid)->state, SandboxState::kRunning);
  EXPECT_TRUE(driver_->Exec(kept.uuid, {"/bin/true"}, seconds(10)));
  EXPECT_TRUE(events_.lost.empty());
  EXPECT_TRUE(driver_->Delete(kept.uuid, true).ok());
}

TEST_F(LibvirtDriverTest, NicsAreHotPluggedAndConfiguredInTheGuest) {
  StartDriver();
  SandboxSpec s = Spec({"/bin/sleep", token_});
  ASSERT_TRUE(driver_->Create(s));
  ASSERT_TRUE(driver_->Start(s.uuid).ok());
  SandboxNic nic;
  nic.port_id = NewUuid();
  nic.network_uuid = NewUuid();
  nic.netns = "zunvm-net-test";
  nic.mac = "52:54:00:12:34:56";
  nic.address = "10.88.7.5";
  nic.gateway = "10.88.7.1";
  ASSERT_TRUE(driver_->AttachNic(s.uuid, nic).ok());
  std::string name = "zunvm-" + s.uuid;
  ASSERT_EQ(hv_->Devices(name).size(), 1u);
  EXPECT_NE(hv_->Devices(name)[0].find(nic.mac), std::string::npos);
  // Its tap joined its network's namespace on the host.
  bool joined = false;
  for (const auto& [link, ns] : net_->Links()) joined |= ns == nic.netns;
  EXPECT_TRUE(joined);
  auto r = driver_->Exec(s.uuid, {"ip", "-o", "addr", "show"}, seconds(10));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_NE(r->output.find("10.88.7.5/24"), std::string::npos) << r->output;
  EXPECT_EQ(driver_->AttachNic(s.uuid, nic).code(), Code::kConflict);

  ASSERT_TRUE(driver_->DetachNic(s.uuid, nic.port_id).ok());
  EXPECT_TRUE(hv_->Devices(name).empty());
  r = driver_->Exec(s.uuid, {"ip", "-o", "addr", "show"}, seconds(10));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output.find("10.88.7.5"), std::string::npos) << r->output;
  for (const auto& [link, ns] : net_->Links()) EXPECT_NE(ns, nic.netns) << link;
  EXPECT_EQ(driver_->DetachNic(s.uuid, nic.port_id).code(), Code::kNotFound);
}

}  // namespace
}  // namespace zunvm::libvirt
