// The guest agent in a real VM: libvirt (domain type qemu here) boots the built guest image
// with two virtio disks, the busybox test root filesystem (read-only) and a blank writable one,
// and the real AgentClient drives a container made of them through the virtio-serial channel.
//
// Needs build/guest (guest/build-image.sh + guest/build-test-rootfs.sh; ZUNVM_GUEST_DIR
// overrides) and a running libvirtd (guest/start-libvirt.sh). scripts/test.sh provides both.
// One VM serves the whole suite (booting under TCG takes seconds); tests use their own ids.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>



#include "agent/client/agent_client.h"
#include "common/ids.h"
#include "common/sha256.h"
#include "network/host_network.h"
#include "tests/support/agent_call.h"
#include "tests/support/agent_events.h"
#include "tests/support/tar_builder.h"
#include "tests/support/test_vm.h"

namespace zunvm::agent {
namespace {

using nlohmann::json;
using std::chrono::seconds;
namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string OneFileTar(const std::string& name, const std::string& content) {
  return testing_util::MakeTar({{name, content}});
}

class VmAgentTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    guest_ = testvm::GuestDir(ZUNVM_DEFAULT_GUEST_DIR);
    for (const char* f : {"vmlinux", "initramfs.cpio", "kernel.version", "test-rootfs.ext4"}) {
      ASSERT_TRUE(fs::exists(guest_ + "/" + f)) << "guest image incomplete, missing " << f;
    }
    // A network as zunvmd makes one: a namespace with a bridge, and the VM's tap on it.
    netns_ = NetnsName(NewUuid());
    tap_ = TapName(NewUuid());
    ASSERT_TRUE(net_.EnsureNetwork(netns_, "10.211.0.1/24").ok());
    ASSERT_TRUE(net_.CreateTap(tap_).ok());
    vm_ = std::make_unique<testvm::TestVm>();
    testvm::TestVmOptions o;
    o.guest_dir = guest_;
    libvirt::NicConfig nic;
    nic.mac = kMac;
    nic.dev = tap_;
    o.nics = {nic};
    Status st = vm_->Boot(o);
    ASSERT_TRUE(st.ok()) << st.ToString();
    st = net_.AttachToNetwork(tap_, netns_);
    ASSERT_TRUE(st.ok()) << st.ToString();
    Connect();
    ASSERT_NE(client_, nullptr);
    // The container every test uses: busybox from the read-only disk, overlaid with the
    // writable one, as uid 1000 in /home/user with a memory limit.
    auto c = CallJson(*client_, "create_container",
                           {{"id", "box"},
                            {"rootfs_disk", {{"serial", "rootfs"}, {"readonly", true}}},
                            {"upper_disk", {{"serial", "upper"}}},
                            {"argv", {"sh", "-c", "echo $GREETING; pwd; id -u; id -g; exec sleep 100000"}},
                            {"env", {"PATH=/bin", "GREETING=hello from the guest"}},
                            {"cwd", "/home/user"},
                            {"uid", 1000},
                            {"gid", 1000},
                            {"hostname", "box"},
                            {"memory_bytes", 96 << 20}},
                           seconds(60));
    ASSERT_TRUE(c) << c.error().ToString() << "\n" << vm_->Console();
    ASSERT_TRUE(CallJson(*client_, "start_container", {{"id", "box"}}, seconds(30)));
  }
  static void TearDownTestSuite() {
    client_.reset();
    vm_.reset();
    (void)net_.DeleteLink(tap_, netns_);
    (void)net_.RemoveNetwork(netns_);
  }
  static void Connect(uint64_t last_seq = 0) {
    auto c = AgentClient::Connect(vm_->socket_path(), std::chrono::seconds(180),
                                  [](Message& m) { events_.On(m); }, last_seq);
    ASSERT_TRUE(c) << c.error().ToString();
    client_ = std::move(*c);
    json hello = {{"version", kProtocolVersion}};
    if (last_seq) hello["ack"] = last_seq;
    auto h = CallJson(*client_, "hello", hello, seconds(180));
    ASSERT_TRUE(h) << h.error().ToString() << "\n" << vm_->Console();
    hello_ = *h;
  }
  void SetUp() override {
    ASSERT_NE(client_, nullptr) << "the VM did not come up";
  }
  // Runs a process in the container and returns its exit code (nullopt: no exit in time).
  std::optional<int> ExecIn(const std::string& id, std::vector<std::string> argv, json extra = json::object()) {
    extra["exec_id"] = id;
    extra["argv"] = argv;
    extra["container"] = "box";
    if (!extra.contains("env")) extra["env"] = {"PATH=/bin"};
    auto r = CallJson(*client_, "exec", extra, seconds(30));
    EXPECT_TRUE(r) << r.error().ToString();
    if (!r) return std::nullopt;
    return events_.WaitExit(id, seconds(120));
  }

  static constexpr const char* kMac = "52:54:00:21:10:02";
  static inline IpHostNetwork net_;
  static inline std::string netns_, tap_;
  static inline std::string guest_;
  static inline std::unique_ptr<testvm::TestVm> vm_;
  static inline std::unique_ptr<AgentClient> client_;
  static inline Events events_;
  static inline json hello_;
};

// The VM's NIC, configured by the agent, answers from its network's namespace (all traffic
// stays between that namespace, which this test made, and the VM).
TEST_F(VmAgentTest, NicConfiguredByTheAgentAnswersOnItsNetwork) {
  auto r = CallJson(*client_, "configure_network",
                         {{"nics", json::array({{{"mac", kMac}, {"cidr", "10.211.0.2/24"}, {"mtu", 1400}}})},
                          {"gateway", "10.211.0.1"}},
                         seconds(30));
  ASSERT_TRUE(r) << r.error().ToString() << "\n" << vm_->Console();
  ASSERT_EQ((*r)["interfaces"].size(), 1u);
  std::string out;
  EXPECT_EQ(testvm::Shell("ip netns exec " + netns_ + " busybox ping -c 1 -W 10 10.211.0.2", &out), 0) << out;
  // The container shares the VM's network: it sees the address.
  std::string ifname = (*r)["interfaces"][0].get<std::string>();
  EXPECT_EQ(ExecIn("net1", {"sh", "-c", "grep -q 1400 /sys/class/net/" + ifname + "/mtu"}), 0);
  auto bad = CallJson(*client_, "configure_network", {{"nics", json::array({{{"mac", "52:54:00:00:00:09"}, {"cidr", "10.211.0.9/24"}}})}},
                           seconds(30));
  EXPECT_FALSE(bad);
  auto hostile = CallJson(*client_, "configure_network", {{"nics", "x"}}, seconds(30));
  EXPECT_FALSE(hostile);
}

TEST_F(VmAgentTest, GuestKernelInsideTheContainer) {
  std::string kver = Trim(Slurp(guest_ + "/kernel.version"));
  EXPECT_EQ(hello_["kernel"], kver);
  ASSERT_EQ(ExecIn("uname", {"uname", "-r"}), 0);
  EXPECT_EQ(Trim(events_.Out("uname")), kver);
  struct utsname host{};
  ::uname(&host);
  if (kver != host.release) {
    EXPECT_NE(Trim(events_.Out("uname")), host.release);
  }
}

TEST_F(VmAgentTest, EnvCwdAndUidOfTheContainer) {
  ASSERT_TRUE(events_.WaitOut("box", "1000\n1000\n"));
  EXPECT_EQ(events_.Out("box"), "hello from the guest\n/home/user\n1000\n1000\n");
  ASSERT_EQ(ExecIn("hn", {"sh", "-c", "hostname; echo $X; pwd"}, {{"env", {"PATH=/bin", "X=y"}}, {"cwd", "/tmp"}}), 0);
  EXPECT_EQ(events_.Out("hn"), "box\ny\n/tmp\n");
}

TEST_F(VmAgentTest, ExitCodesAndSignals) {
  EXPECT_EQ(ExecIn("t", {"true"}), 0);
  EXPECT_EQ(ExecIn("f", {"false"}), 1);
  EXPECT_EQ(ExecIn("k", {"sh", "-c", "kill -9 $$"}), 137);
  EXPECT_EQ(events_.Signal("k"), SIGKILL);
  ASSERT_TRUE(CallJson(*client_, "exec", {{"exec_id", "s"}, {"argv", {"sleep", "1000"}}, {"container", "box"}}, seconds(30)));
  ASSERT_TRUE(CallJson(*client_, "signal", {{"exec_id", "s"}, {"signal", SIGTERM}}, seconds(30)));
  auto w = CallJson(*client_, "wait", {{"exec_id", "s"}}, seconds(60));
  ASSERT_TRUE(w) << w.error().ToString();
  EXPECT_EQ((*w)["exit_code"], 143);
  EXPECT_EQ((*w)["signal"], SIGTERM);
  auto missing = CallJson(*client_, "exec", {{"exec_id", "m"}, {"argv", {"/no/such/binary"}}, {"container", "box"}}, seconds(30));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
}

TEST_F(VmAgentTest, StdinToStdoutAndSeparateStreams) {
  ASSERT_TRUE(CallJson(*client_, "exec", {{"exec_id", "cat"}, {"argv", {"sh", "-c", "cat; echo err >&2"}},
                                     {"container", "box"}, {"stdin", true}, {"env", {"PATH=/bin"}}},
                            seconds(30)));
  ASSERT_TRUE(CallJson(*client_, "write_stdin", {{"exec_id", "cat"}}, seconds(30), "through the VM\n"));
  ASSERT_TRUE(CallJson(*client_, "close_stdin", {{"exec_id", "cat"}}, seconds(30)));
  EXPECT_EQ(events_.WaitExit("cat", seconds(60)), 0);
  EXPECT_EQ(events_.Out("cat"), "through the VM\n");
  EXPECT_EQ(events_.Err("cat"), "err\n");
}

TEST_F(VmAgentTest, TtyExecWithResize) {
  ASSERT_TRUE(CallJson(*client_, "exec", {{"exec_id", "tty"}, {"argv", {"sh", "-c", "tty; read x; stty size"}},
                                     {"container", "box"}, {"stdin", true}, {"tty", true}, {"env", {"PATH=/bin"}}},
                            seconds(30)));
  ASSERT_TRUE(CallJson(*client_, "resize_tty", {{"exec_id", "tty"}, {"width", 100}, {"height", 40}}, seconds(30)));
  ASSERT_TRUE(CallJson(*client_, "write_stdin", {{"exec_id", "tty"}}, seconds(30), "go\n"));
  EXPECT_EQ(events_.WaitExit("tty", seconds(60)), 0);
  std::string out = events_.Out("tty");
  EXPECT_NE(out.find("/dev/pts/"), std::string::npos) << out;
  EXPECT_NE(out.find("40 100"), std::string::npos) << out;
}

// A container made with a tty (`docker run -t`): its init's pty is in the container's own
// /dev/pts and is its controlling terminal (`tty` names it, /dev/tty opens), and a resize
// reaches it. It runs in box's root directory (no disks of its own).
TEST_F(VmAgentTest, TtyContainerHasItsControllingTerminal) {
  auto c = CallJson(*client_, "create_container",
                    {{"id", "ttybox"},
                     {"rootfs", "/run/zunvm/containers/box/rootfs"},
                     {"argv", {"sh", "-c", "tty; echo through-dev-tty > /dev/tty; stty size"}},
                     {"env", {"PATH=/bin"}},
                     {"hostname", "ttybox"},
                     {"tty", true}},
                    seconds(60));
  ASSERT_TRUE(c) << c.error().ToString();
  ASSERT_TRUE(CallJson(*client_, "resize_tty", {{"exec_id", "ttybox"}, {"width", 120}, {"height", 30}}, seconds(30)));
  ASSERT_TRUE(CallJson(*client_, "start_container", {{"id", "ttybox"}}, seconds(30)));
  EXPECT_EQ(events_.WaitExit("ttybox", seconds(60)), 0);
  std::string out = events_.Out("ttybox");
  EXPECT_NE(out.find("/dev/pts/0"), std::string::npos) << out;
  EXPECT_EQ(out.find("not a tty"), std::string::npos) << out;
  EXPECT_NE(out.find("through-dev-tty"), std::string::npos) << out;
  EXPECT_NE(out.find("30 120"), std::string::npos) << out;
}

TEST_F(VmAgentTest, FiveMegabytesArriveIntact) {
  ASSERT_EQ(ExecIn("big", {"sh", "-c", "head -c 5242880 /dev/urandom > /tmp/big; cat /tmp/big; sha256sum /tmp/big >&2"}), 0);
  std::string out = events_.Out("big");
  ASSERT_EQ(out.size(), 5242880u);
  EXPECT_EQ(events_.Err("big").substr(0, 64), Sha256Digest(out).substr(7));
}

TEST_F(VmAgentTest, StatsAndProcessList) {
  auto st = CallJson(*client_, "stats", json::object(), seconds(30));
  ASSERT_TRUE(st);
  int64_t total = (*st)["mem_total_bytes"], used = (*st)["mem_used_bytes"];
  EXPECT_GT(total, 200 << 20);  // the domain has 384 MiB
  EXPECT_LT(total, 400 << 20);
  EXPECT_GT(used, 0);
  EXPECT_LT(used, total);
  EXPECT_GT((*st)["cpu_usage_usec"].get<int64_t>(), 0);
  EXPECT_GT((*st)["block_read_bytes"].get<int64_t>(), 0);  // the root filesystem came from disk
  auto ps = CallJson(*client_, "processes", json::object(), seconds(30));
  ASSERT_TRUE(ps);
  EXPECT_NE(ps->dump().find("sleep 100000"), std::string::npos) << ps->dump();
}

TEST_F(VmAgentTest, FileCopyBothWaysAndSymlinkEscapeRefused) {
  ASSERT_TRUE(client_->CopyIn("box", "/tmp", OneFileTar("note.txt", "copied in"), seconds(60)).ok());
  ASSERT_EQ(ExecIn("catnote", {"cat", "/tmp/note.txt"}), 0);
  EXPECT_EQ(events_.Out("catnote"), "copied in");
  op::PathStat stat;
  auto tar = client_->CopyOut("box", "/etc/passwd", &stat, seconds(60));
  ASSERT_TRUE(tar) << tar.error().ToString();
  EXPECT_NE(testing_util::ReadTar(*tar)["passwd"].find("user:x:1000:1000"), std::string::npos);
  EXPECT_EQ(stat.name, "passwd");
  // 3 MiB: several chunks each way.
  std::string blob(3 << 20, 'z');
  for (size_t i = 0; i < blob.size(); i += 4096) blob[i] = static_cast<char>('a' + (i / 4096) % 26);
  ASSERT_TRUE(client_->CopyIn("box", "/tmp", OneFileTar("blob", blob), seconds(120)).ok());
  auto back = client_->CopyOut("box", "/tmp/blob", nullptr, seconds(120));
  ASSERT_TRUE(back);
  EXPECT_TRUE(testing_util::ReadTar(*back)["blob"] == blob);

  // The guest's own root holds /init (the agent); the container's does not. A symlink that
  // climbs out of the container root must not reach it.
  ASSERT_EQ(ExecIn("ln", {"ln", "-s", "../../../../../..", "/tmp/esc"}), 0);
  auto out = client_->CopyOut("box", "/tmp/esc/init", nullptr, seconds(60));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), Code::kForbidden) << out.error().ToString();
  Status in = client_->CopyIn("box", "/tmp/esc/run", OneFileTar("pwned", "x"), seconds(60));
  EXPECT_EQ(in.code(), Code::kForbidden) << in.ToString();
  auto init = client_->CopyOut("box", "/init", nullptr, seconds(60));
  ASSERT_FALSE(init);
  EXPECT_EQ(init.error().code(), Code::kNotFound);
}

TEST_F(VmAgentTest, ReconnectMidStreamLosesNothing) {
  ASSERT_TRUE(CallJson(*client_, "exec", {{"exec_id", "seq"},
                                     {"argv", {"sh", "-c", "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo line$i; [ $((i % 30)) = 0 ] && sleep 0.1; done"}},
                                     {"container", "box"}, {"env", {"PATH=/bin"}}},
                            seconds(30)));
  ASSERT_TRUE(events_.WaitOut("seq", "line10\n"));
  client_.reset();  // zunvmd goes away mid-stream (its reader is gone after this) ...
  uint64_t last = events_.LastSeq();  // what it stored, as zunvmd's log knows it
  Connect(last);    // ... and a new one picks up where it left off
  ASSERT_NE(client_, nullptr);
  EXPECT_EQ(events_.WaitExit("seq", seconds(120)), 0);
  std::string want;
  for (int i = 1; i <= 300; ++i) want += "line" + std::to_string(i) + "\n";
  EXPECT_EQ(events_.Out("seq"), want);
}

TEST_F(VmAgentTest, MemoryLimitUpdateAndOomEvent) {
  ASSERT_TRUE(CallJson(*client_, "update", {{"id", "box"}, {"memory_bytes", 48 << 20}, {"cpus", 0.5}}, seconds(30)));
  // tail keeps a line it never finishes: it grows until the cgroup's OOM killer stops it.
  EXPECT_EQ(ExecIn("hog", {"tail", "/dev/zero"}), 137);
  EXPECT_TRUE(events_.WaitOom("box", seconds(30)));
  EXPECT_EQ(ExecIn("alive", {"true"}), 0);  // the container itself survives
}

}  // namespace
}  // namespace zunvm::agent
