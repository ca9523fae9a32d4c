// driver/oci/monitor.h: containers under the real runc and crun with conmon as their monitor, on
// a busybox root (the bundle as tests/oci/test_oci_spec.py builds it), and conmon's log format
// read from files made up here. The runtime tests need root, busybox-static and conmon; a
// runtime that is not installed is skipped, with the reason.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/strings.h"
#include "driver/oci/monitor.h"
#include "driver/oci/oci_spec.h"
#include "test_util.h"

namespace zunvm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using testing_util::Eventually;
using testing_util::TempDir;

constexpr char kBusybox[] = "/bin/busybox";
constexpr char kConmon[] = "/usr/bin/conmon";
constexpr int kCapSysResource = 24;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

uint64_t OwnCapEff() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(Trim(line.substr(7)), nullptr, 16);
  }
  return 0;
}

// Docker's RLIMIT_NOFILE unless the runtime cannot raise its own limit that far (no
// CAP_SYS_RESOURCE, as in a nested sandbox).
uint64_t Nofile() {
  if (OwnCapEff() & (uint64_t{1} << kCapSysResource)) return 1048576;
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return std::min<uint64_t>(1048576, rl.rlim_max);
}

std::string Find(const std::string& name) {
  for (const char* dir : {"/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/"}) {
    if (::access((dir + name).c_str(), X_OK) == 0) return dir + name;
  }
  return "";
}

bool MountedAt(const std::string& path, std::string* type = nullptr) {
  std::ifstream f("/proc/self/mounts");
  for (std::string line; std::getline(f, line);) {
    auto fields = Split(line, ' ');
    if (fields.size() > 2 && fields[1] == path) {
      if (type) *type = fields[2];
      return true;
    }
  }
  return false;
}

// crun refuses a hybrid cgroup host while cgroup2 (/sys/fs/cgroup/unified) still holds a
// controller; mounting a v1 hierarchy for it (usually hugetlb) moves it off, as
// tests/oci/test_oci_spec.py does. True when crun can run here.
bool PrepareHybridCgroups() {
  const std::string controllers = "/sys/fs/cgroup/unified/cgroup.controllers";
  std::string type;
  if (!fs::exists(controllers) || !MountedAt("/sys/fs/cgroup", &type) || type != "tmpfs") return true;
  for (const auto& name : Split(Trim(ReadFile(controllers)), ' ')) {
    const std::string target = "/sys/fs/cgroup/" + name;
    if (name.empty() || MountedAt(target)) continue;
    ::mkdir(target.c_str(), 0755);
    ::mount("cgroup", target.c_str(), "cgroup", 0, name.c_str());
  }
  return Trim(ReadFile(controllers)).empty();
}

struct Streams {
  std::string out, err;
};
Streams Collect(const std::vector<oci::LogChunk>& chunks) {
  Streams s;
  for (const auto& c : chunks) (c.stream == Stream::kStderr ? s.err : s.out) += c.data;
  return s;
}

// A container's sandbox dir and id, made by the fixture.
struct Box {
  std::string id;
  oci::MonitorPaths p;
};

class OciMonitorTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) {
      skip_ = "needs root (the OCI runtimes)";
    } else if (::access(kBusybox, X_OK) != 0) {
      skip_ = "busybox-static is not installed";
    } else if (::access(kConmon, X_OK) != 0) {
      skip_ = "conmon is not installed";
    }
    if (!skip_.empty()) return;
    crun_ok_ = PrepareHybridCgroups();
    // This process is the subreaper of the monitors it starts (they re-parent to init on a
    // host), so that it reaps them: this sandbox's PID 1 leaves orphans as zombies.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    tmp_ = new TempDir();
    ::chmod(tmp_->path().c_str(), 0711);
    rootfs_ = tmp_->path() + "/rootfs";
    for (const char* d : {"bin", "proc", "sys", "dev", "tmp", "etc", "root"}) fs::create_directories(rootfs_ + "/" + d);
    fs::copy_file(kBusybox, rootfs_ + "/bin/busybox");
    ::chmod((rootfs_ + "/tmp").c_str(), 01777);
    FILE* list = ::popen("/bin/busybox --list", "r");
    char name[256];
    while (list && std::fscanf(list, "%255s", name) == 1) {
      std::error_code ec;
      if (std::string(name) != "busybox") fs::create_symlink("busybox", rootfs_ + "/bin/" + name, ec);
    }
    if (list) ::pclose(list);
    WriteFile(rootfs_ + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    WriteFile(rootfs_ + "/etc/group", "root:x:0:\n");
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
    if (skip_.empty()) ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    rt_.binary = Find(GetParam());
    if (rt_.binary.empty()) GTEST_SKIP() << GetParam() << " is not installed";
    if (GetParam() == "crun" && !crun_ok_) GTEST_SKIP() << "crun refuses this hybrid cgroup host (a controller stays on cgroup2)";
    rt_.monitor = kConmon;
    rt_.root = tmp_->path() + "/state-" + GetParam();
  }

  void TearDown() override {
    ReapOrphans();
    for (const auto& b : boxes_) {
      auto pid = oci::MonitorPidOf(b.p, b.id);
      EXPECT_TRUE(oci::DeleteContainer(rt_, b.id, b.p).ok()) << b.id;
      if (pid) Reap(*pid);
      for (const auto& h : fs::directory_iterator("/sys/fs/cgroup")) {
        ::rmdir((h.path().string() + "/zunvm-test/" + b.id).c_str());
        ::rmdir((h.path().string() + "/zunvm-test").c_str());  // busy while another test uses it
      }
      std::error_code ec;
      fs::remove_all(b.p.dir, ec);
      fs::remove(rootfs_ + "/tmp/go-" + b.id, ec);
    }
    ReapOrphans();
  }

  // Reaps what re-parented to this process (the subreaper) and exited, as init does on a host.
  // It matters: a failed crun exec leaves a process of the container's PID namespace behind,
  // and the namespace's init cannot finish exiting (zap_pid_ns_processes) until it is reaped.
  static void ReapOrphans() {
    int st;
    while (::waitpid(-1, &st, WNOHANG) > 0) {
    }
  }

  // Reaps a monitor that exited (it is this process's child: the subreaper).
  static void Reap(int pid) {
    EXPECT_TRUE(Eventually([&] {
      int st;
      return ::waitpid(pid, &st, WNOHANG) == pid || errno == ECHILD;
    })) << "conmon " << pid << " did not exit";
  }

  // A bundle for `argv`: the generated config.json, with what this host lets the runtime
  // grant (capabilities, RLIMIT_NOFILE) and a cgroup under /zunvm-test.
  Box MakeBox(const std::vector<std::string>& argv, bool tty = false) {
    static std::atomic<int> n{0};
    Box b;
    b.id = "zunvm-mon-" + GetParam() + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
    b.p.dir = tmp_->path() + "/" + b.id;
    EXPECT_EQ(::mkdir(b.p.dir.c_str(), 0711), 0);
    SandboxSpec s;
    s.uuid = "0b0e2a4c-1111-4222-8333-944445555666";
    s.name = b.id;
    s.image = "busybox";
    s.hostname = "mon";
    s.argv = argv;
    s.tty = tty;
    oci::OciSpecOptions o;
    o.root_path = rootfs_;
    o.cgroups_path = "/zunvm-test/" + b.id;
    o.nofile = Nofile();
    o.grantable_capabilities = OwnCapEff();
    auto config = oci::BuildOciSpec(s, o);
    EXPECT_TRUE(config) << config.error().message();
    if (config) WriteFile(b.p.dir + "/config.json", config->dump());
    process_ = config ? (*config)["process"] : json();
    boxes_.push_back(b);
    return b;
  }

  // Replaces the process's args in its config.json (for a script that names the box).
  static void SetArgs(const Box& b, const std::vector<std::string>& argv) {
    auto config = json::parse(ReadFile(b.p.dir + "/config.json"));
    config["process"]["args"] = argv;
    WriteFile(b.p.dir + "/config.json", config.dump());
  }

  // Creates and starts it; its init's pid.
  int Run(const Box& b) {
    auto pid = oci::CreateContainer(rt_, b.id, b.p);
    EXPECT_TRUE(pid) << pid.error().message();
    if (!pid) return -1;
    auto st = oci::StartContainer(rt_, b.id);
    EXPECT_TRUE(st.ok()) << st.message();
    return *pid;
  }

  // Everything logged so far (a partial line at the end only when `exited`).
  Streams Logged(const Box& b, bool exited = false) {
    auto batch = oci::ReadLog(b.p, 0, 1 << 20, exited);
    return batch ? Collect(batch->chunks) : Streams{};
  }

  std::optional<int> AwaitExit(const Box& b) {
    Eventually([&] { return oci::ExitCodeOf(b.p, b.id).has_value(); }, 30s);
    return oci::ExitCodeOf(b.p, b.id);
  }

  void Go(const Box& b) { WriteFile(rootfs_ + "/tmp/go-" + b.id, ""); }
  // A shell line that waits for Go().
  static std::string AwaitGo(const Box& b) { return "while [ ! -e /tmp/go-" + b.id + " ]; do sleep 0.02; done"; }

  std::optional<oci::RuntimeState> State(const Box& b) {
    auto s = oci::StateOf(rt_, b.id);
    if (!s) return std::nullopt;
    return *s;
  }

  static inline std::string skip_;
  static inline bool crun_ok_ = false;
  static inline TempDir* tmp_ = nullptr;
  static inline std::string rootfs_;
  oci::OciRuntime rt_;
  std::vector<Box> boxes_;
  json process_;  // the last box's process, a template for execs
};

TEST_P(OciMonitorTest, CreateThenStartLogsBothStreamsAndRecordsTheExitCode) {
  Box b = MakeBox({"sh", "-c", "echo out; echo err >&2; exit 3"});
  auto before = std::chrono::system_clock::now();
  auto pid = oci::CreateContainer(rt_, b.id, b.p);
  ASSERT_TRUE(pid) << pid.error().message();
  EXPECT_GT(*pid, 0);
  auto st = State(b);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, SandboxState::kCreated);  // created, not started
  EXPECT_EQ(st->pid, *pid);
  EXPECT_EQ(oci::ExitCodeOf(b.p, b.id), std::nullopt);
  EXPECT_TRUE(oci::MonitorPidOf(b.p, b.id));
  ASSERT_TRUE(oci::StartContainer(rt_, b.id).ok());
  EXPECT_EQ(AwaitExit(b), 3);
  EXPECT_EQ(State(b)->status, SandboxState::kStopped);
  auto batch = oci::ReadLog(b.p, 0, 1 << 20, true);
  ASSERT_TRUE(batch) << batch.error().message();
  ASSERT_EQ(batch->chunks.size(), 2u);
  for (const auto& c : batch->chunks) {
    EXPECT_EQ(c.data, c.stream == Stream::kStdout ? "out\n" : "err\n");
    EXPECT_GE(c.time, before - 1s);
    EXPECT_LE(c.time, std::chrono::system_clock::now() + 1s);
  }
  EXPECT_NE(batch->chunks[0].stream, batch->chunks[1].stream);
  EXPECT_EQ(batch->next_offset, fs::file_size(b.p.Log()));
}

TEST_P(OciMonitorTest, PartialLineComesOutWhenCompleteOrAtExit) {
  Box b = MakeBox({"true"});
  SetArgs(b, {"sh", "-c", "printf part; " + AwaitGo(b) + "; echo ial; printf tail"});
  Run(b);
  ASSERT_TRUE(Eventually([&] { return ReadFile(b.p.Log()).find(" stdout P part\n") != std::string::npos; }));
  auto held = oci::ReadLog(b.p, 0, 1 << 20, false);
  ASSERT_TRUE(held);
  EXPECT_TRUE(held->chunks.empty());  // the line is not complete yet
  EXPECT_EQ(held->next_offset, 0u);
  Go(b);
  EXPECT_EQ(AwaitExit(b), 0);
  auto running = oci::ReadLog(b.p, 0, 1 << 20, false);
  ASSERT_TRUE(running);
  ASSERT_EQ(running->chunks.size(), 1u);  // "tail" has no newline: held while it may go on
  EXPECT_EQ(running->chunks[0].data, "partial\n");
  auto done = oci::ReadLog(b.p, running->next_offset, 1 << 20, true);
  ASSERT_TRUE(done);
  ASSERT_EQ(done->chunks.size(), 1u);
  EXPECT_EQ(done->chunks[0].data, "tail");
  EXPECT_EQ(done->chunks[0].stream, Stream::kStdout);
  EXPECT_EQ(done->next_offset, fs::file_size(b.p.Log()));
}

TEST_P(OciMonitorTest, SigkillGives137) {
  Box b = MakeBox({"sh", "-c", "echo ready; exec sleep 1000"});
  Run(b);
  ASSERT_TRUE(Eventually([&] { return Logged(b).out == "ready\n"; }));
  EXPECT_EQ(State(b)->status, SandboxState::kRunning);
  ASSERT_TRUE(oci::KillContainer(rt_, b.id, SIGKILL).ok());
  EXPECT_EQ(AwaitExit(b), 137);
  EXPECT_EQ(State(b)->status, SandboxState::kStopped);
  EXPECT_EQ(oci::KillContainer(rt_, b.id, SIGKILL).code(), Code::kConflict);
  EXPECT_EQ(oci::KillContainer(rt_, b.id, 0).code(), Code::kInvalidArgument);
}

TEST_P(OciMonitorTest, ExecCapturesOutputAndExitCode) {
  Box b = MakeBox({"sleep", "1000"});
  Run(b);
  json process = process_;
  process["args"] = json({"sh", "-c", "echo hi; exit 5"});
  auto r = oci::ExecInContainer(rt_, b.id, b.p, process, 30s);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->output, "hi\n");
  EXPECT_EQ(r->exit_code, 5);

  process["args"] = json({"sh", "-c", "echo to-stderr >&2"});
  r = oci::ExecInContainer(rt_, b.id, b.p, process, 30s);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->output, "to-stderr\n");
  EXPECT_EQ(r->exit_code, 0);

  // Past its timeout the process is killed, and the call returns soon after.
  process["args"] = json({"sleep", "321"});
  auto start = std::chrono::steady_clock::now();
  r = oci::ExecInContainer(rt_, b.id, b.p, process, 1s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kDeadlineExceeded) << r.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
  process["args"] = json({"ps"});
  r = oci::ExecInContainer(rt_, b.id, b.p, process, 30s);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->output.find("sleep 321"), std::string::npos) << r->output;

  // A program that is not there is the runtime's error, not an exit code of the program.
  process["args"] = json({"/no/such/program"});
  r = oci::ExecInContainer(rt_, b.id, b.p, process, 30s);
  ASSERT_FALSE(r) << r->exit_code << " " << r->output;
  EXPECT_EQ(r.error().code(), Code::kInternal);
  EXPECT_NE(r.error().message().find("/no/such/program"), std::string::npos) << r.error().message();
  EXPECT_TRUE(fs::directory_iterator(b.p.dir) != fs::directory_iterator());
  for (const auto& e : fs::directory_iterator(b.p.dir)) {
    EXPECT_NE(e.path().filename().string().rfind("exec-", 0), 0u) << e.path();  // its files are gone
  }

  auto unknown = oci::ExecInContainer(rt_, "zunvm-mon-never-was", b.p, process, 30s);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), Code::kNotFound) << unknown.error().message();
  EXPECT_EQ(oci::ExecInContainer(rt_, b.id, b.p, json::object(), 30s).error().code(), Code::kInvalidArgument);
}

TEST_P(OciMonitorTest, PauseAndResumeChangeTheState) {
  Box b = MakeBox({"sleep", "1000"});
  Run(b);
  ASSERT_TRUE(Eventually([&] { auto s = State(b); return s && s->status == SandboxState::kRunning; }));
  ASSERT_TRUE(oci::PauseContainer(rt_, b.id).ok());
  EXPECT_EQ(State(b)->status, SandboxState::kPaused);
  ASSERT_TRUE(oci::ResumeContainer(rt_, b.id).ok());
  EXPECT_EQ(State(b)->status, SandboxState::kRunning);
}

TEST_P(OciMonitorTest, ContainerSurvivesTheDeathOfItsCreator) {
  Box b = MakeBox({"sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done"});
  pid_t creator = ::fork();
  ASSERT_GE(creator, 0);
  if (creator == 0) {  // zunvmd's stand-in: creates and starts it, then dies at once
    auto pid = oci::CreateContainer(rt_, b.id, b.p);
    if (!pid) ::_exit(1);
    ::_exit(oci::StartContainer(rt_, b.id).ok() ? 0 : 2);
  }
  int st = 0;
  if (!Eventually([&] { return ::waitpid(creator, &st, WNOHANG) == creator; }, 60s)) {
    ::kill(creator, SIGKILL);
    ::waitpid(creator, &st, 0);
    FAIL() << "the creator did not finish";
  }
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;

  auto state = State(b);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->status, SandboxState::kRunning);
  auto monitor = oci::MonitorPidOf(b.p, b.id);
  ASSERT_TRUE(monitor);
  // Its parent is no longer the creator (gone), and it still logs.
  std::string stat = ReadFile("/proc/" + std::to_string(*monitor) + "/stat");
  auto fields = Split(stat.substr(stat.rfind(')') + 2), ' ');
  ASSERT_GT(fields.size(), 1u);
  EXPECT_NE(fields[1], std::to_string(creator));
  auto first = oci::ReadLog(b.p, 0, 1 << 20);
  ASSERT_TRUE(first);
  ASSERT_TRUE(Eventually([&] {
    auto later = oci::ReadLog(b.p, first->next_offset, 1 << 20);
    return later && later->chunks.size() >= 3 && later->chunks.back().data.rfind("tick ", 0) == 0;
  }));
  EXPECT_EQ(oci::ExitCodeOf(b.p, b.id), std::nullopt);
}

TEST_P(OciMonitorTest, DeleteLeavesNoStateMonitorOrCgroup) {
  Box b = MakeBox({"sleep", "1000"});
  Run(b);
  auto monitor = oci::MonitorPidOf(b.p, b.id);
  ASSERT_TRUE(monitor);
  std::vector<std::string> cgroups;
  for (const auto& h : fs::directory_iterator("/sys/fs/cgroup")) {
    if (fs::exists(h.path() / "zunvm-test" / b.id)) cgroups.push_back((h.path() / "zunvm-test" / b.id).string());
  }
  EXPECT_FALSE(cgroups.empty());

  ASSERT_TRUE(oci::DeleteContainer(rt_, b.id, b.p).ok());
  auto state = oci::StateOf(rt_, b.id);
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().code(), Code::kNotFound) << state.error().message();
  EXPECT_FALSE(fs::exists(rt_.root + "/" + b.id));
  EXPECT_EQ(oci::MonitorPidOf(b.p, b.id), std::nullopt);
  Reap(*monitor);
  EXPECT_NE(::kill(*monitor, 0), 0);
  for (const auto& c : cgroups) EXPECT_FALSE(fs::exists(c)) << c;
  EXPECT_EQ(oci::ExitCodeOf(b.p, b.id), 137);  // conmon saw the SIGKILL of delete --force

  EXPECT_TRUE(oci::DeleteContainer(rt_, b.id, b.p).ok());  // idempotent
  EXPECT_TRUE(oci::DeleteContainer(rt_, "zunvm-mon-never-was", b.p).ok());
}

TEST_P(OciMonitorTest, ReadLogFromAnOffsetReturnsOnlyWhatCameAfter) {
  Box b = MakeBox({"true"});
  SetArgs(b, {"sh", "-c", "echo one; echo uno >&2; " + AwaitGo(b) + "; echo two; exit 0"});
  Run(b);
  uint64_t offset = 0;
  ASSERT_TRUE(Eventually([&] {
    auto s = Logged(b);
    return s.out == "one\n" && s.err == "uno\n";
  }));
  auto first = oci::ReadLog(b.p, 0, 1 << 20);
  ASSERT_TRUE(first);
  offset = first->next_offset;
  Go(b);
  EXPECT_EQ(AwaitExit(b), 0);
  auto rest = oci::ReadLog(b.p, offset, 1 << 20, true);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->chunks.size(), 1u);
  EXPECT_EQ(rest->chunks[0].stream, Stream::kStdout);
  EXPECT_EQ(rest->chunks[0].data, "two\n");
  auto none = oci::ReadLog(b.p, rest->next_offset, 1 << 20, true);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->chunks.empty());
  EXPECT_EQ(none->next_offset, rest->next_offset);
  // One record at a time (max_bytes 1) gives the same, each exactly once.
  std::vector<std::string> one_by_one;
  for (uint64_t at = 0; at < none->next_offset;) {
    auto r = oci::ReadLog(b.p, at, 1, true);
    ASSERT_TRUE(r);
    ASSERT_GT(r->next_offset, at);
    for (const auto& c : r->chunks) one_by_one.push_back(c.data);
    at = r->next_offset;
  }
  EXPECT_EQ(one_by_one.size(), 3u);
}

TEST_P(OciMonitorTest, CreateFailureReportsTheRuntimesMessageAndLeavesNothing) {
  Box b = MakeBox({"/no/such/program"});
  auto pid = oci::CreateContainer(rt_, b.id, b.p);
  ASSERT_FALSE(pid);  // both look for the program at create
  EXPECT_EQ(pid.error().code(), Code::kInternal);
  EXPECT_NE(pid.error().message().find("/no/such/program"), std::string::npos) << pid.error().message();
  EXPECT_EQ(oci::StateOf(rt_, b.id).error().code(), Code::kNotFound);
  EXPECT_EQ(oci::MonitorPidOf(b.p, b.id), std::nullopt);
}

TEST_P(OciMonitorTest, ConmonsOwnFailureIsReported) {
  Box b = MakeBox({"true"});
  oci::OciRuntime missing = rt_;
  missing.binary = "/nonexistent/" + GetParam();  // conmon checks it before it forks
  auto pid = oci::CreateContainer(missing, b.id, b.p);
  ASSERT_FALSE(pid);
  EXPECT_EQ(pid.error().code(), Code::kInternal);
  EXPECT_NE(pid.error().message().find("conmon failed"), std::string::npos) << pid.error().message();
  EXPECT_NE(pid.error().message().find(missing.binary), std::string::npos) << pid.error().message();
  EXPECT_EQ(oci::MonitorPidOf(b.p, b.id), std::nullopt);
}

TEST_P(OciMonitorTest, TheContainerInheritsOnlyItsStdio) {
  Box b = MakeBox({"sh", "-c", "ls /proc/$$/fd; exec sleep 1000"});
  Run(b);
  ASSERT_TRUE(Eventually([&] { return !Logged(b).out.empty(); }));
  EXPECT_EQ(Split(Trim(Logged(b).out), '\n'), (std::vector<std::string>{"0", "1", "2"}));
  json process = process_;
  process["args"] = json({"sh", "-c", "ls /proc/$$/fd; true"});  // sh's own, not ls's (no exec)
  auto r = oci::ExecInContainer(rt_, b.id, b.p, process, 30s);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(Split(Trim(r->output), '\n'), (std::vector<std::string>{"0", "1", "2"}));
}

TEST_P(OciMonitorTest, TerminalOutputIsLogged) {
  Box b = MakeBox({"sh", "-c", "echo hi; exit 4"}, /*tty=*/true);
  auto pid = oci::CreateContainer(rt_, b.id, b.p, oci::ContainerStdio{.terminal = true});
  ASSERT_TRUE(pid) << pid.error().message();
  ASSERT_TRUE(oci::StartContainer(rt_, b.id).ok());
  EXPECT_EQ(AwaitExit(b), 4);
  Streams s = Logged(b, true);
  EXPECT_EQ(s.out, "hi\r\n");  // one stream, through the pty
  EXPECT_EQ(s.err, "");
}

INSTANTIATE_TEST_SUITE_P(OciMonitor, OciMonitorTest, ::testing::Values("runc", "crun"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// ---- The log format, from files written here (no runtime needed) ----

class OciMonitorLog : public ::testing::Test {
 protected:
  void SetUp() override { p_.dir = dir_.path(); }
  void Write(const std::string& text) { WriteFile(p_.Log(), text); }
  TempDir dir_;
  oci::MonitorPaths p_;
};

constexpr char kT[] = "2026-01-02T03:04:05.123456789+01:00";

TEST_F(OciMonitorLog, JoinsPartialLinesAndHoldsAnOpenOneBack) {
  const std::string head = std::string(kT) + " stdout F a\n" + kT + " stderr P e1\n" + kT + " stderr F e2\n" + kT +
                           " stdout P x\n" + kT + " stderr F y\n" + kT + " stdout F \n";
  const std::string open = std::string(kT) + " stdout P ta\n" + kT + " stdout P il\n";
  Write(head + open + "2026-01-02T03:04:05Z stdout F unfinished");
  auto b = oci::ReadLog(p_, 0, 1 << 20);
  ASSERT_TRUE(b) << b.error().message();
  std::vector<std::pair<Stream, std::string>> got;
  for (const auto& c : b->chunks) got.emplace_back(c.stream, c.data);
  using V = std::vector<std::pair<Stream, std::string>>;
  EXPECT_EQ(got, (V{{Stream::kStdout, "a\n"},
                    {Stream::kStderr, "e1e2\n"},
                    {Stream::kStdout, "x"},  // interrupted by the other stream: delivered as it is
                    {Stream::kStderr, "y\n"},
                    {Stream::kStdout, "\n"}}));
  EXPECT_EQ(b->next_offset, head.size());  // "tail" still open
  // Each chunk ends where its last record does, whatever read found it.
  const size_t rec = std::string(kT).size() + 12;  // "<time> stdout F a\n"
  EXPECT_EQ(b->chunks[0].end, rec);
  EXPECT_EQ(b->chunks.back().end, head.size());
  for (size_t i = 1; i < b->chunks.size(); ++i) EXPECT_GT(b->chunks[i].end, b->chunks[i - 1].end);
  auto from_second = oci::ReadLog(p_, rec, 1 << 20);
  ASSERT_TRUE(from_second);
  EXPECT_EQ(from_second->chunks[0].end, b->chunks[1].end);
  // 2026-01-02T03:04:05.123456789+01:00 is 02:04:05.123456789 UTC.
  auto utc = std::chrono::sys_days(std::chrono::year{2026} / 1 / 2) + 2h + 4min + 5s + 123456789ns;
  EXPECT_EQ(b->chunks[0].time, std::chrono::time_point_cast<TimePoint::duration>(utc));

  // Once the line completes, it comes out whole.
  Write(head + open + kT + " stdout F !\n");
  auto more = oci::ReadLog(p_, b->next_offset, 1 << 20);
  ASSERT_TRUE(more);
  ASSERT_EQ(more->chunks.size(), 1u);
  EXPECT_EQ(more->chunks[0].data, "tail!\n");
  EXPECT_EQ(more->chunks[0].end, fs::file_size(p_.Log()));
  EXPECT_EQ(more->next_offset, fs::file_size(p_.Log()));

  // At exit an open line is delivered as it is, and an unfinished record is dropped.
  Write(head + open + "2026-01-02T03:04:05Z stdout F unfinished");
  auto last = oci::ReadLog(p_, b->next_offset, 1 << 20, /*exited=*/true);
  ASSERT_TRUE(last);
  ASSERT_EQ(last->chunks.size(), 1u);
  EXPECT_EQ(last->chunks[0].data, "tail");
  EXPECT_EQ(last->next_offset, fs::file_size(p_.Log()));
}

TEST_F(OciMonitorLog, RecordsComeAsTheyAreWithTheirEnds) {
  const std::string a = std::string(kT) + " stdout P pro\n";
  const std::string b = std::string(kT) + " stdout P mpt \n";
  const std::string c = std::string(kT) + " stderr F e\n";
  Write(a + b + c);
  auto r = oci::ReadLog(p_, 0, 1 << 20, false, /*records=*/true);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->chunks.size(), 3u);
  EXPECT_EQ(r->chunks[0].data, "pro");  // not held back for the rest of its line
  EXPECT_EQ(r->chunks[1].data, "mpt ");
  EXPECT_EQ(r->chunks[2].data, "e\n");
  EXPECT_EQ(r->chunks[0].end, a.size());
  EXPECT_EQ(r->chunks[1].end, a.size() + b.size());
  EXPECT_EQ(r->next_offset, a.size() + b.size() + c.size());
  auto again = oci::ReadLog(p_, a.size(), 1 << 20, false, true);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->chunks[0].end, r->chunks[1].end);
}

TEST_F(OciMonitorLog, SkipsGarbageWithoutCrashing) {
  std::string valid = std::string("2026-01-02T03:04:05Z stdout F ok\r") + '\0' + "\x01\xff\n";
  std::string text = "\n"
                     "garbage\n"
                     "2026-01-02T03:04:05Z stdin F x\n"
                     "2026-01-02T03:04:05Z stdout Q x\n"
                     "2026-01-02T03:04:05Z stdout FF x\n"
                     "notatime stdout F x\n"
                     "2026-13-40T03:04:05Z stdout F x\n"
                     "2026-02-30T03:04:05Z stdout F x\n"
                     "2026-01-02T03:04:05+99:00 stdout F x\n"
                     "2026-01-02T03:04:05. stdout F x\n"
                     "2026-01-02T03:04:05Zjunk stdout F x\n"
                     "2026-01-02T03:04:05Z stdout\n"
                     "2026-01-02T03:04:05Z  F x\n" +
                     std::string("\0\0\0 \0 \0\n", 8) + valid + std::string(100000, 'z') + "\n" +
                     "2026-01-02T03:04:05Z stderr F fine\n" + std::string(70000, 'g');  // no newline: not conmon's
  Write(text);
  auto b = oci::ReadLog(p_, 0, 1 << 20);
  ASSERT_TRUE(b) << b.error().message();
  ASSERT_EQ(b->chunks.size(), 2u);
  EXPECT_EQ(b->chunks[0].data, std::string("ok\r") + '\0' + "\x01\xff\n");
  EXPECT_EQ(b->chunks[1].stream, Stream::kStderr);
  EXPECT_EQ(b->chunks[1].data, "fine\n");
  EXPECT_EQ(b->next_offset, text.size());
}

TEST_F(OciMonitorLog, RandomInputNeverCrashesAndAlwaysProgresses) {
  std::mt19937 rng(20260102);
  const std::string pieces[] = {kT, " ", "stdout", "stderr", "F", "P", "F:b.1", "\n", "x", "\r", std::string(1, '\0'),
                                "2026-01-02T03:04:05Z", "+01:00", "\xff", std::string(9000, 'q')};
  for (int round = 0; round < 300; ++round) {
    std::string text;
    int n = static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      if (rng() % 4 == 0) {
        text += static_cast<char>(rng() % 256);
      } else {
        text += pieces[rng() % std::size(pieces)];
      }
    }
    Write(text);
    for (bool exited : {false, true}) {
      uint64_t at = rng() % (text.size() + 1);
      for (int steps = 0; at < text.size() && steps < 10000; ++steps) {
        auto r = oci::ReadLog(p_, at, 1 + rng() % 200, exited);
        ASSERT_TRUE(r) << r.error().message();
        ASSERT_LE(r->next_offset, text.size());
        ASSERT_GE(r->next_offset, at);
        if (r->next_offset == at) {
          ASSERT_FALSE(exited) << "no progress at " << at;  // only an open line waits
          break;
        }
        at = r->next_offset;
      }
    }
  }
}

TEST_F(OciMonitorLog, Errors) {
  auto missing = oci::ReadLog(p_, 0, 100);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  Write("2026-01-02T03:04:05Z stdout F x\n");
  auto past = oci::ReadLog(p_, 1000, 100);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code(), Code::kInvalidArgument);
  auto end = oci::ReadLog(p_, 32, 100);
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->chunks.empty());
  EXPECT_EQ(end->next_offset, 32u);
}

TEST(OciMonitorIds, RefusesWhatCannotBeAnIdBeforeRunningAnything) {
  for (const char* ok : {"a", "zunvm-0b0e2a4c-1111", "A_b.c-9"}) EXPECT_TRUE(oci::ValidContainerId(ok)) << ok;
  for (const std::string& bad : std::vector<std::string>{"", "-rf", ".hidden", "../x", "a/b", "a b", "a\nb", std::string(129, 'a')}) {
    EXPECT_FALSE(oci::ValidContainerId(bad)) << bad;
  }
  oci::OciRuntime rt;
  rt.binary = "/nonexistent/runc";
  rt.monitor = "/nonexistent/conmon";
  rt.root = "/nonexistent/root";
  oci::MonitorPaths p{"/nonexistent/dir"};
  EXPECT_EQ(oci::CreateContainer(rt, "../x", p).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(oci::DeleteContainer(rt, "a/b", p).code(), Code::kInvalidArgument);
  EXPECT_EQ(oci::ExitCodeOf(p, "../x"), std::nullopt);
  rt.root = "relative";
  EXPECT_EQ(oci::StateOf(rt, "ok").error().code(), Code::kInvalidArgument);
  p.dir = "relative";
  rt.root = "/nonexistent/root";
  EXPECT_EQ(oci::CreateContainer(rt, "ok", p).error().code(), Code::kInvalidArgument);
  // A runtime that is not there: an error, not a crash.
  auto st = oci::StateOf(rt, "ok");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kInternal) << st.error().message();
}

}  // namespace
}  // namespace zunvm
