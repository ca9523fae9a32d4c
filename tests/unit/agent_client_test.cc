// The real zunvm-agent binary (its --stdio mode: the same server loop as PID 1 in the VM)
// driven by the real AgentClient over a socketpair: exec, output, exit codes, signals, stdin,
// bulk output, hostile frames, the guest going away.
#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "agent/client/agent_client.h"
#include "agent/protocol/frame.h"
#include "common/base64.h"
#include "tests/support/agent_call.h"
#include "tests/support/agent_events.h"
#include "tests/support/tar_builder.h"

namespace zunvm::agent {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      ::dup2(sv[1], 0);
      ::execl(ZUNVM_AGENT_BIN, "zunvm-agent", "--stdio", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(sv[1]);
    peer_ = sv[0];
    client_ = std::make_unique<AgentClient>(::dup(peer_), [this](Message& m) { events_.On(m); });
  }
  void TearDown() override {
    client_.reset();
    ::close(peer_);
    int st = 0;
    if (pid_ > 0) ::waitpid(pid_, &st, 0);
  }
  Result<json> Exec(const std::string& id, std::vector<std::string> argv, json extra = json::object()) {
    extra["exec_id"] = id;
    extra["argv"] = argv;
    return CallJson(*client_, "exec", extra, seconds(10));
  }

  pid_t pid_ = -1;
  int peer_ = -1;
  Events events_;
  std::unique_ptr<AgentClient> client_;
};

TEST_F(AgentTest, HelloReportsVersionAndKernel) {
  auto r = client_->Call<op::Hello>({kProtocolVersion, std::nullopt}, seconds(10));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->version, 2);
  EXPECT_FALSE(r->boot_id.empty());
  EXPECT_FALSE(r->kernel.empty());
  auto bad = CallJson(*client_, "hello", {{"version", 99}}, seconds(10));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
  auto unknown = CallJson(*client_, "teleport", json::object(), seconds(10));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), Code::kNotImplemented);
}

TEST_F(AgentTest, ExitCodesSignalsAndStreams) {
  ASSERT_TRUE(Exec("ok", {"sh", "-c", "echo out; echo err >&2"}));
  EXPECT_EQ(events_.WaitExit("ok"), 0);
  EXPECT_EQ(events_.Out("ok"), "out\n");
  EXPECT_EQ(events_.Err("ok"), "err\n");
  ASSERT_TRUE(Exec("one", {"sh", "-c", "exit 1"}));
  EXPECT_EQ(events_.WaitExit("one"), 1);
  ASSERT_TRUE(Exec("sleeper", {"sleep", "30"}));
  ASSERT_TRUE(CallJson(*client_, "signal", {{"exec_id", "sleeper"}, {"signal", SIGKILL}}, seconds(10)));
  EXPECT_EQ(events_.WaitExit("sleeper"), 137);
  ASSERT_TRUE(Exec("term", {"sleep", "30"}));
  ASSERT_TRUE(CallJson(*client_, "signal", {{"exec_id", "term"}, {"signal", SIGTERM}}, seconds(10)));
  EXPECT_EQ(events_.WaitExit("term"), 143);
  auto missing = Exec("nope", {"/no/such/binary"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_FALSE(Exec("", {"true"}));
  EXPECT_FALSE(CallJson(*client_, "exec", {{"exec_id", "x"}, {"argv", "notalist"}}, seconds(10)));
}

TEST_F(AgentTest, EnvCwdAndStdin) {
  ASSERT_TRUE(Exec("env", {"sh", "-c", "echo $GREETING; pwd"},
                   {{"env", {"GREETING=hello", "PATH=/usr/bin:/bin"}}, {"cwd", "/tmp"}}));
  EXPECT_EQ(events_.WaitExit("env"), 0);
  EXPECT_EQ(events_.Out("env"), "hello\n/tmp\n");
  ASSERT_TRUE(Exec("cat", {"cat"}, {{"stdin", true}}));
  ASSERT_TRUE(CallJson(*client_, "write_stdin", {{"exec_id", "cat"}}, seconds(10), "ping\n"));
  ASSERT_TRUE(CallJson(*client_, "close_stdin", {{"exec_id", "cat"}}, seconds(10)));
  EXPECT_EQ(events_.WaitExit("cat"), 0);
  EXPECT_EQ(events_.Out("cat"), "ping\n");
}

TEST_F(AgentTest, TtyExecAndProcessList) {
  ASSERT_TRUE(Exec("tty", {"sh", "-c", "tty; stty size; echo done"}, {{"tty", true}, {"stdin", true}}));
  EXPECT_EQ(events_.WaitExit("tty"), 0);
  std::string out = events_.Out("tty");
  EXPECT_NE(out.find("/dev/pts/"), std::string::npos) << out;
  EXPECT_NE(out.find("done"), std::string::npos) << out;
  ASSERT_TRUE(Exec("longtty", {"sleep", "30"}, {{"tty", true}}));
  EXPECT_TRUE(CallJson(*client_, "resize_tty", {{"exec_id", "longtty"}, {"width", 120}, {"height", 40}}, seconds(10)));
  EXPECT_FALSE(CallJson(*client_, "resize_tty", {{"exec_id", "longtty"}, {"width", 0}, {"height", 40}}, seconds(10)));
  ASSERT_TRUE(Exec("plain", {"sleep", "30"}));
  EXPECT_FALSE(CallJson(*client_, "resize_tty", {{"exec_id", "plain"}, {"width", 80}, {"height", 24}}, seconds(10)));
  auto ps = CallJson(*client_, "processes", json::object(), seconds(10));
  ASSERT_TRUE(ps);
  EXPECT_EQ((*ps)["titles"][1], "PID");
  std::vector<std::string> cmds;
  for (const auto& row : (*ps)["processes"]) cmds.push_back(row[7]);
  EXPECT_EQ(std::count(cmds.begin(), cmds.end(), "sleep 30"), 2) << (*ps).dump();
  for (const char* id : {"longtty", "plain"}) {
    ASSERT_TRUE(CallJson(*client_, "signal", {{"exec_id", id}, {"signal", SIGKILL}}, seconds(10)));
    EXPECT_EQ(events_.WaitExit(id), 137);
  }
}

TEST_F(AgentTest, StatsArePlausible) {
  auto st = CallJson(*client_, "stats", json::object(), seconds(10));
  ASSERT_TRUE(st) << st.error().ToString();
  EXPECT_GT((*st)["cpu_usage_usec"].get<uint64_t>(), 0u);
  EXPECT_GT((*st)["mem_total_bytes"].get<uint64_t>(), (*st)["mem_used_bytes"].get<uint64_t>());
  EXPECT_GT((*st)["mem_used_bytes"].get<uint64_t>(), 0u);
  EXPECT_TRUE((*st).contains("block_read_bytes"));
  EXPECT_TRUE((*st).contains("net_rx_bytes"));
}

TEST_F(AgentTest, FiveMegabytesArriveIntact) {
  ASSERT_TRUE(Exec("bulk", {"sh", "-c", "yes 0123456789abcdef | head -c 5000000"}));
  EXPECT_EQ(events_.WaitExit("bulk", seconds(60)), 0);
  std::string out = events_.Out("bulk");
  ASSERT_EQ(out.size(), 5000000u);
  std::string line = "0123456789abcdef\n";
  for (size_t i = 0; i < out.size(); i += 4096) ASSERT_EQ(out[i], line[i % line.size()]) << i;
}

TEST_F(AgentTest, GarbageFrameDropsTheConnectionNotTheProcess) {
  const char garbage[] = "\xff\xff\xff\xffjunk";
  ASSERT_EQ(::write(peer_, garbage, sizeof garbage - 1), static_cast<ssize_t>(sizeof garbage - 1));
  // In --stdio mode the agent ends its loop on a bad frame; the client sees the channel close.
  for (int i = 0; i < 200 && client_->Alive(); ++i) {
    auto r = CallJson(*client_, "hello", {{"version", kProtocolVersion}}, milliseconds(100));
    if (!r && r.error().code() == Code::kUnavailable) break;
  }
  EXPECT_FALSE(CallJson(*client_, "hello", {{"version", kProtocolVersion}}, seconds(5)));
  int st = 0;
  ASSERT_EQ(::waitpid(pid_, &st, 0), pid_);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(st));  // a clean exit, not a crash
}

TEST_F(AgentTest, ShutdownEndsTheServer) {
  ASSERT_TRUE(CallJson(*client_, "shutdown", json::object(), seconds(10)));
  int st = 0;
  ASSERT_EQ(::waitpid(pid_, &st, 0), pid_);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
}

}  // namespace
}  // namespace zunvm::agent

namespace zunvm::agent {
namespace {

// A host without a client library: frames written and read by hand, nothing acknowledged
// unless the test says so.
class RawHost {
 public:
  explicit RawHost(int fd) : fd_(fd) {}
  void Request(uint64_t id, const std::string& op, json body) {
    auto frame = EncodeFrame(SerializeMessage(Message::Request(id, op, std::move(body))));
    ASSERT_TRUE(frame);
    ASSERT_EQ(::write(fd_, frame->data(), frame->size()), static_cast<ssize_t>(frame->size()));
  }
  // The next message, or nullopt when none comes within `wait`.
  std::optional<Message> Next(milliseconds wait) {
    for (;;) {
      auto f = decoder_.Next();
      if (!f || *f) {
        if (!f) return std::nullopt;
        auto m = ParseMessage(**f);
        if (m) return *m;
        continue;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return std::nullopt;
      char buf[65536];
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      decoder_.Feed(std::string_view(buf, static_cast<size_t>(n)));
    }
  }

 private:
  int fd_;
  FrameDecoder decoder_;
};

// Flow control: a process's output runs at most one window (1 MiB) ahead of the host's
// acknowledgements; the process then waits (nothing is dropped), and acks let it go on.
TEST(AgentFlowControl, OutputWaitsForAcknowledgements) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  pid_t agent = ::fork();
  ASSERT_GE(agent, 0);
  if (agent == 0) {
    ::dup2(sv[1], 0);
    ::execl(ZUNVM_AGENT_BIN, "zunvm-agent", "--stdio", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(sv[1]);
  RawHost host(sv[0]);
  host.Request(1, "hello", {{"version", kProtocolVersion}});
  ASSERT_TRUE(host.Next(seconds(10)));
  constexpr size_t kTotal = 8 << 20;
  host.Request(2, "exec", {{"exec_id", "flood"}, {"argv", {"head", "-c", std::to_string(kTotal), "/dev/zero"}}});
  size_t got = 0;
  uint64_t last_seq = 0;
  bool exited = false;
  auto take = [&](Message& m) {
    if (m.op == "output") {
      got += m.data.size();
      last_seq = m.body["seq"];
    } else if (m.op == "exit") {
      exited = true;
    }
  };
  // Unacknowledged: the output stops at the window (and one chunk gathered before the check).
  while (auto m = host.Next(milliseconds(500))) take(*m);
  EXPECT_FALSE(exited);
  EXPECT_GE(got, size_t{512} << 10);
  EXPECT_LE(got, op::kOutputWindow + (size_t{256} << 10)) << got;
  // Acknowledged as it arrives: all of it, once.
  auto deadline = std::chrono::steady_clock::now() + seconds(60);
  uint64_t acked = 0;
  while (!exited && std::chrono::steady_clock::now() < deadline) {
    if (last_seq > acked) {
      host.Request(3 + last_seq, "ack", {{"seq", last_seq}});
      acked = last_seq;
    }
    if (auto m = host.Next(milliseconds(500))) take(*m);
  }
  EXPECT_TRUE(exited);
  EXPECT_EQ(got, kTotal);
  ::close(sv[0]);
  int st = 0;
  ::waitpid(agent, &st, 0);
}

// Reconnection: the agent keeps running processes and their unacknowledged output while no
// host is connected, and replays it to the next host after `hello {ack}`.
TEST(AgentReconnect, NothingLostAcrossAHostRestart) {
  char tmpl[] = "/tmp/zunvm-agent-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl, sock = dir + "/agent.sock", flag = dir + "/go";
  pid_t agent = ::fork();
  ASSERT_GE(agent, 0);
  if (agent == 0) {
    ::execl(ZUNVM_AGENT_BIN, "zunvm-agent", "--listen", sock.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  Events first, second;
  auto c1 = AgentClient::Connect(sock, seconds(10), [&](Message& m) { first.On(m); });
  ASSERT_TRUE(c1) << c1.error().ToString();
  ASSERT_TRUE(CallJson(**c1, "hello", {{"version", kProtocolVersion}}, seconds(10)));
  std::string script = "echo before; while [ ! -e " + flag +
                       " ]; do sleep 0.01; done; i=0; while [ $i -lt 2000 ]; do echo line$i; "
                       "i=$((i+1)); done; echo after";
  auto r = CallJson(**c1, "exec", {{"exec_id", "talker"}, {"argv", {"sh", "-c", script}}}, seconds(10));
  ASSERT_TRUE(r);
  pid_t talker = (*r)["pid"];
  for (int i = 0; i < 1000 && first.Out("talker").empty(); ++i) ::usleep(10000);
  ASSERT_EQ(first.Out("talker"), "before\n");
  c1->reset();  // the host goes away (e.g. zunvmd restarts)
  uint64_t last = first.LastSeq();  // what it had stored
  ASSERT_EQ(::close(::open(flag.c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  // The process writes all its output while no host is connected, and exits.
  for (int i = 0; i < 2000 && ::kill(talker, 0) == 0; ++i) {
    std::ifstream stat("/proc/" + std::to_string(talker) + "/stat");
    std::string s;
    std::getline(stat, s);
    if (s.find(") Z") != std::string::npos) break;  // exited, not yet reaped
    ::usleep(10000);
  }
  auto c2 = AgentClient::Connect(sock, seconds(10), [&](Message& m) { second.On(m); }, last);
  ASSERT_TRUE(c2);
  ASSERT_TRUE(CallJson(**c2, "hello", {{"version", kProtocolVersion}, {"ack", last}}, seconds(10)));
  EXPECT_EQ(second.WaitExit("talker"), 0);
  std::string expected;
  for (int i = 0; i < 2000; ++i) expected += "line" + std::to_string(i) + "\n";
  expected += "after\n";
  EXPECT_EQ(second.Out("talker"), expected);  // everything after "before", exactly once
  ASSERT_TRUE(CallJson(**c2, "shutdown", json::object(), seconds(10)));
  int st = 0;
  ASSERT_EQ(::waitpid(agent, &st, 0), agent);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace zunvm::agent

namespace zunvm::agent {
namespace {

// A busybox root filesystem for container tests (Debian's busybox-static).
std::string MakeBusyboxRoot(const std::string& dir) {
  std::filesystem::create_directories(dir + "/bin");
  std::filesystem::create_directories(dir + "/etc");
  std::filesystem::copy_file("/bin/busybox", dir + "/bin/busybox");
  for (const char* a : {"sh", "echo", "cat", "hostname", "id", "pwd", "sleep", "ls", "env", "uname", "head", "wc"}) {
    std::filesystem::create_symlink("busybox", dir + "/bin/" + a);
  }
  return dir;
}

class ContainerTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    char tmpl[] = "/tmp/zunvm-rootfs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = MakeBusyboxRoot(dir_ + "/root");
  }
  void TearDown() override {
    AgentTest::TearDown();
    std::filesystem::remove_all(dir_);
  }
  Result<json> Create(const std::string& id, std::vector<std::string> argv, json extra = json::object()) {
    extra["id"] = id;
    extra["rootfs"] = root_;
    extra["argv"] = argv;
    if (!extra.contains("env")) extra["env"] = {"PATH=/bin"};
    return CallJson(*client_, "create_container", extra, seconds(10));
  }
  std::string dir_, root_;
};

TEST_F(ContainerTest, OwnNamespacesRootHostnameUserAndCwd) {
  if (!std::filesystem::exists("/bin/busybox")) GTEST_SKIP() << "busybox-static is not installed";
  auto c = Create("c1", {"sh", "-c", "echo pid=$$; hostname; id -u; pwd; cat /etc/hosts; echo $GREETING; ls /; sleep 30"},
                  {{"env", {"PATH=/bin", "GREETING=hi"}}, {"cwd", "/tmp"}, {"hostname", "box1"},
                   {"hosts", "127.0.0.1 localhost box1\n"}});
  ASSERT_TRUE(c) << c.error().ToString();
  ASSERT_TRUE(CallJson(*client_, "start_container", {{"id", "c1"}}, seconds(10)));
  for (int i = 0; i < 500 && events_.Out("c1").find("proc") == std::string::npos; ++i) ::usleep(10000);
  std::string out = events_.Out("c1");
  EXPECT_NE(out.find("pid=1\n"), std::string::npos) << out;       // its own pid namespace
  EXPECT_NE(out.find("box1\n0\n/tmp\n127.0.0.1 localhost box1\nhi\n"), std::string::npos) << out;
  EXPECT_NE(out.find("bin"), std::string::npos) << out;
  EXPECT_EQ(out.find("usr"), std::string::npos) << out;           // not the host's root
  // exec joins the same namespaces and root.
  ASSERT_TRUE(Exec("e1", {"sh", "-c", "hostname; ls /; echo $$"}, {{"container", "c1"}}));
  EXPECT_EQ(events_.WaitExit("e1"), 0);
  EXPECT_NE(events_.Out("e1").find("box1\n"), std::string::npos) << events_.Out("e1");
  EXPECT_EQ(events_.Out("e1").find("usr"), std::string::npos) << events_.Out("e1");
  ASSERT_TRUE(CallJson(*client_, "signal", {{"exec_id", "c1"}, {"signal", SIGKILL}}, seconds(10)));
  EXPECT_EQ(events_.WaitExit("c1"), 137);
  auto gone = Exec("e2", {"true"}, {{"container", "c1"}});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), Code::kNotFound);
}

TEST_F(ContainerTest, UserAndRlimitsApply) {
  if (!std::filesystem::exists("/bin/busybox")) GTEST_SKIP() << "busybox-static is not installed";
  ASSERT_TRUE(Create("u", {"sh", "-c", "id -u; id -g; ulimit -n"},
                     {{"uid", 1000}, {"gid", 1000}, {"rlimits", {{"nofile", 123}}}}));
  ASSERT_TRUE(CallJson(*client_, "start_container", {{"id", "u"}}, seconds(10)));
  EXPECT_EQ(events_.WaitExit("u"), 0);
  EXPECT_EQ(events_.Out("u"), "1000\n1000\n123\n");
}

// The probe's table ("row: result" lines) as a map.
std::map<std::string, std::string> ProbeTable(const std::string& out) {
  std::map<std::string, std::string> t;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(": ");
    if (colon != std::string::npos) t[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return t;
}

// Docker's default privileges inside the container, on the host kernel (the VM test,
// test_vm_security.py, runs the same probe in a guest): the probe's attempts fail where
// Docker's would, and an exec gets the same rules as the container's init.
TEST_F(ContainerTest, DefaultPrivilegesAreDockers) {
  if (!std::filesystem::exists("/bin/busybox")) GTEST_SKIP() << "busybox-static is not installed";
  std::filesystem::copy_file(ZUNVM_ESCAPE_PROBE, root_ + "/bin/probe");
  std::filesystem::create_directories(root_ + "/tmp");
  ASSERT_TRUE(Create("sec", {"sh", "-c", "/bin/probe; sleep 30"}));
  ASSERT_TRUE(CallJson(*client_, "start_container", {{"id", "sec"}}, seconds(10)));
  for (int i = 0; i < 1000 && events_.Out("sec").find("setuid_euid") == std::string::npos; ++i) ::usleep(10000);
  for (const std::string& out : {events_.Out("sec"), std::string()}) {
    std::string text = out;
    if (text.empty()) {  // the same table from an exec into the running container
      ASSERT_TRUE(Exec("probe-exec", {"/bin/probe"}, {{"container", "sec"}}));
      EXPECT_EQ(events_.WaitExit("probe-exec"), 0);
      text = events_.Out("probe-exec");
    }
    auto t = ProbeTable(text);
    EXPECT_EQ(t["capeff"], "00000000a80425fb") << text;  // Docker's 14 capabilities
    EXPECT_EQ(t["capbnd"], "00000000a80425fb") << text;
    EXPECT_EQ(t["no_new_privs"], "1") << text;
    EXPECT_EQ(t["seccomp"], "2") << text;  // filter mode
    for (const char* row : {"mount", "unshare_mount_ns", "clone_new_user_ns", "finit_module", "add_key", "keyctl",
                            "reboot", "bpf", "perf_event_open", "kexec_load", "swapon", "settimeofday",
                            "sethostname", "io_uring_setup", "open_by_handle_at"}) {
      EXPECT_EQ(t[row], "EPERM") << row << "\n" << text;
    }
    EXPECT_EQ(t["clone3"], "ENOSYS") << text;  // libc falls back to clone
    EXPECT_EQ(t["mknod_port"], "ok") << text;  // CAP_MKNOD, as Docker: but the node cannot open
    EXPECT_EQ(t["open_port"], "EACCES") << text;
    EXPECT_EQ(t["open_port_in_dev"], "EACCES") << text;
    // Masked by /dev/null, read-only (kernels built without them have neither file).
    bool kcore = std::filesystem::exists("/proc/kcore"), sysrq = std::filesystem::exists("/proc/sysrq-trigger");
    EXPECT_EQ(t["kcore_bytes"], kcore ? "0" : "ENOENT") << text;
    EXPECT_EQ(t["write_proc_sys"], "EROFS") << text;
    EXPECT_EQ(t["write_sysrq_trigger"], sysrq ? "EROFS" : "ENOENT") << text;
    EXPECT_EQ(t["write_sys"], "EROFS") << text;
    EXPECT_EQ(t["setuid_euid"], "65534") << text;  // no_new_privs: set-user-id gains nothing
  }
  // The standard devices still work.
  ASSERT_TRUE(Exec("devs", {"sh", "-c", "echo hi > /dev/null && head -c 4 /dev/urandom | wc -c && ls /dev/pts"},
                   {{"container", "sec"}}));
  EXPECT_EQ(events_.WaitExit("devs"), 0) << events_.Out("devs");
  ASSERT_TRUE(CallJson(*client_, "signal", {{"exec_id", "sec"}, {"signal", SIGKILL}}, seconds(10)));
  events_.WaitExit("sec");
}

// privileged: Docker's meaning, everything the guest root may do.
TEST_F(ContainerTest, PrivilegedHasEverything) {
  if (!std::filesystem::exists("/bin/busybox")) GTEST_SKIP() << "busybox-static is not installed";
  std::filesystem::copy_file(ZUNVM_ESCAPE_PROBE, root_ + "/bin/probe");
  std::filesystem::create_directories(root_ + "/tmp");
  ASSERT_TRUE(Create("priv", {"/bin/probe"}, {{"privileged", true}}));
  ASSERT_TRUE(CallJson(*client_, "start_container", {{"id", "priv"}}, seconds(10)));
  EXPECT_EQ(events_.WaitExit("priv"), 0);
  std::string text = events_.Out("priv");
  auto t = ProbeTable(text);
  // Everything this test (the agent's parent) holds: all 41 capabilities in a VM.
  std::string own;
  {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("CapEff:", 0) == 0) own = line.substr(line.find_first_not_of(" \t", 7));
    }
  }
  EXPECT_EQ(t["capeff"], own) << text;
  EXPECT_EQ(t["no_new_privs"], "0") << text;
  EXPECT_EQ(t["seccomp"], "0") << text;
  EXPECT_EQ(t["mount"], "ok") << text;
  EXPECT_NE(t["finit_module"], "EPERM") << text;  // past the checks: the bad fd, or no modules
  EXPECT_EQ(t["open_port"], "ok") << text;
  if (std::filesystem::exists("/proc/kcore")) {
    EXPECT_NE(t["kcore_bytes"], "0") << text;
  }
  EXPECT_EQ(t["write_proc_sys"], "ok") << text;
  EXPECT_EQ(t["write_sys"], "ok") << text;
  EXPECT_EQ(t["setuid_euid"], "0") << text;
  EXPECT_EQ(CallJson(*client_, "create_container", {{"id", "bad"}, {"rootfs", root_}, {"argv", {"sh"}}, {"privileged", "yes"}},
                          seconds(10)).error().code(),
            Code::kInvalidArgument);
}

TEST_F(ContainerTest, BadSpecsAreRefused) {
  EXPECT_EQ(CallJson(*client_, "create_container", {{"id", "x"}, {"rootfs", "relative"}, {"argv", {"sh"}}}, seconds(10)).error().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(CallJson(*client_, "create_container", {{"id", "../x"}, {"rootfs", root_}, {"argv", {"sh"}}}, seconds(10)).error().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(CallJson(*client_, "create_container", {{"id", "x"}, {"rootfs", "/nonexistent"}, {"argv", {"sh"}}}, seconds(10)).error().code(),
            Code::kNotFound);
  EXPECT_EQ(CallJson(*client_, "create_container", {{"id", "x"}, {"rootfs", root_}, {"argv", json::array()}}, seconds(10)).error().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(CallJson(*client_, "start_container", {{"id", "nope"}}, seconds(10)).error().code(), Code::kNotFound);
}

using testing_util::MakeTarEntries;
using testing_util::ReadTar;
using testing_util::TarItem;

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST_F(ContainerTest, InjectedFilesLandInsideTheRoot) {
  if (!std::filesystem::exists("/bin/busybox")) GTEST_SKIP() << "busybox-static is not installed";
  std::filesystem::create_directories(root_ + "/tmp");
  std::filesystem::create_symlink("../../../../../../..", root_ + "/tmp/esc");
  std::filesystem::create_symlink("/etc", root_ + "/tmp/abs");
  std::filesystem::create_symlink("/etc/passwd", root_ + "/tmp/last");
  auto files = [](const std::string& dest) {
    return json{{"files", json::array({{{"destination", dest}, {"content", Base64Encode(std::string("in\0side", 7))}}})}};
  };
  // Parents are made; the bytes arrive as they were (binary too).
  ASSERT_TRUE(Create("a", {"sleep", "30"}, files("/etc/app/conf.d/x.conf")));
  std::ifstream f(root_ + "/etc/app/conf.d/x.conf");
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(f)), {}), std::string("in\0side", 7));
  // An absolute symlink on the way resolves inside the root, as for the container itself.
  ASSERT_TRUE(Create("b", {"sleep", "30"}, files("/tmp/abs/via-link")));
  EXPECT_TRUE(std::filesystem::exists(root_ + "/etc/via-link"));
  // A symlink that climbs out is refused, and so is one as the file itself: nothing is written
  // outside the root, or through the link.
  auto esc = Create("c", {"sleep", "30"}, files("/tmp/esc/pwned"));
  ASSERT_FALSE(esc);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(root_).parent_path().parent_path() / "pwned"));
  auto last = Create("d", {"sleep", "30"}, files("/tmp/last"));
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().code(), Code::kInvalidArgument) << last.error().ToString();
  EXPECT_FALSE(std::filesystem::exists(root_ + "/etc/passwd"));
  // A FIFO at the path (a container may leave one) is refused at once, not waited on.
  ASSERT_EQ(::mkfifo((root_ + "/etc/fifo").c_str(), 0644), 0);
  auto fifo = Create("f", {"sleep", "30"}, files("/etc/fifo"));
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.error().code(), Code::kInvalidArgument) << fifo.error().ToString();
  // Not base64, or too many: refused before anything happens.
  EXPECT_FALSE(Create("e", {"sleep", "30"}, json{{"files", json::array({{{"destination", "/x"}, {"content", "%%%"}}})}}));
}

TEST_F(ContainerTest, CopyOutAndInStayInsideTheRoot) {
  if (!std::filesystem::exists("/bin/busybox")) GTEST_SKIP() << "busybox-static is not installed";
  { std::ofstream(root_ + "/etc/greeting") << "hello"; }
  std::filesystem::create_directories(root_ + "/tmp");
  std::filesystem::create_symlink("../../../../../../..", root_ + "/tmp/esc");
  std::filesystem::create_symlink("/etc", root_ + "/tmp/abs");
  ASSERT_TRUE(Create("c", {"sleep", "30"}));
  ASSERT_TRUE(CallJson(*client_, "start_container", {{"id", "c"}}, seconds(10)));

  op::PathStat stat;
  auto tar = client_->CopyOut("c", "/etc/greeting", &stat, seconds(10));
  ASSERT_TRUE(tar) << tar.error().ToString();
  EXPECT_EQ(ReadTar(*tar), (std::map<std::string, std::string>{{"greeting", "hello"}}));
  EXPECT_EQ(stat.name, "greeting");
  EXPECT_EQ(stat.size, 5);
  auto dir = client_->CopyOut("c", "/etc", nullptr, seconds(10));
  ASSERT_TRUE(dir);
  EXPECT_EQ(ReadTar(*dir)["etc/greeting"], "hello");
  EXPECT_EQ(ReadTar(*dir)["etc/"], "/");
  // An absolute symlink resolves inside the container, as it would for its processes.
  auto abs = client_->CopyOut("c", "/tmp/abs/greeting", nullptr, seconds(10));
  ASSERT_TRUE(abs) << abs.error().ToString();
  EXPECT_EQ(ReadTar(*abs)["greeting"], "hello");
  // A symlink as the last component is archived as the link.
  EXPECT_EQ(ReadTar(*client_->CopyOut("c", "/tmp/abs", nullptr, seconds(10)))["abs"], "->/etc");

  // Climbing out through a symlink is refused both ways; nothing lands outside the root.
  auto out = client_->CopyOut("c", "/tmp/esc/etc/hostname", nullptr, seconds(10));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), Code::kForbidden);
  Status in = client_->CopyIn("c", "/tmp/esc", MakeTarEntries({{"pwned", '0', "x"}}), seconds(10));
  EXPECT_EQ(in.code(), Code::kForbidden) << in.ToString();

  // Extraction: directories created, content and mode kept.
  ASSERT_TRUE(client_->CopyIn("c", "/tmp", MakeTarEntries({{"a", '5', ""}, {"a/b.txt", '0', "bee", 0640}, {"a/l", '2', "b.txt"}}),
                              seconds(10)).ok());
  EXPECT_EQ(Slurp(root_ + "/tmp/a/b.txt"), "bee");
  EXPECT_EQ(std::filesystem::status(root_ + "/tmp/a/b.txt").permissions(), std::filesystem::perms(0640));
  EXPECT_EQ(std::filesystem::read_symlink(root_ + "/tmp/a/l"), "b.txt");

  // Hostile archives are refused before anything is written.
  for (const auto& bad : std::vector<std::vector<TarItem>>{
           {{"ok1", '0', "x"}, {"../evil", '0', "x"}},
           {{"ok2", '0', "x"}, {"/evil", '0', "x"}},
           {{"ok3", '0', "x"}, {"l", '2', "/"}, {"l/evil", '0', "x"}},
       }) {
    Status st = client_->CopyIn("c", "/tmp", MakeTarEntries(bad), seconds(10));
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << bad.back().name << ": " << st.ToString();
  }
  EXPECT_FALSE(std::filesystem::exists(root_ + "/tmp/ok1"));
  EXPECT_FALSE(std::filesystem::exists(root_ + "/tmp/ok3"));
  // Writing through a symlink already in the container is refused too.
  Status through = client_->CopyIn("c", "/tmp", MakeTarEntries({{"abs/evil", '0', "x"}}), seconds(10));
  EXPECT_EQ(through.code(), Code::kInvalidArgument) << through.ToString();
  EXPECT_FALSE(std::filesystem::exists(root_ + "/etc/evil"));
  EXPECT_FALSE(std::filesystem::exists("/evil"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/pwned"));
  EXPECT_EQ(client_->CopyIn("c", "/tmp", "garbage that is not a tar", seconds(10)).code(), Code::kInvalidArgument);
  EXPECT_EQ(client_->CopyOut("c", "/nonexistent", nullptr, seconds(10)).error().code(), Code::kNotFound);
  EXPECT_EQ(client_->CopyOut("nope", "/etc", nullptr, seconds(10)).error().code(), Code::kNotFound);
}

TEST_F(AgentTest, WaitReturnsTheExitCodeOrTheSignal) {
  ASSERT_TRUE(Exec("w1", {"sh", "-c", "sleep 0.2; exit 3"}));
  auto w = CallJson(*client_, "wait", {{"exec_id", "w1"}}, seconds(10));
  ASSERT_TRUE(w) << w.error().ToString();
  EXPECT_EQ((*w)["exit_code"], 3);
  EXPECT_FALSE(w->contains("signal"));
  auto again = CallJson(*client_, "wait", {{"exec_id", "w1"}}, seconds(10));  // after the fact
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)["exit_code"], 3);
  ASSERT_TRUE(Exec("w2", {"sleep", "30"}));
  ASSERT_TRUE(CallJson(*client_, "signal", {{"exec_id", "w2"}, {"signal", SIGTERM}}, seconds(10)));
  auto k = CallJson(*client_, "wait", {{"exec_id", "w2"}}, seconds(10));
  ASSERT_TRUE(k);
  EXPECT_EQ((*k)["exit_code"], 128 + SIGTERM);
  EXPECT_EQ((*k)["signal"], SIGTERM);
  EXPECT_EQ(CallJson(*client_, "wait", {{"exec_id", "never"}}, seconds(10)).error().code(), Code::kNotFound);
}

}  // namespace
}  // namespace zunvm::agent
