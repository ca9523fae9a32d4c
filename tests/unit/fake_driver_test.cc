// FakeDriver: Docker-like lifecycle, events from its own thread, exec, archives, persistence.
// Waits are on a condition variable with a deadline; nothing sleeps to synchronise.
#include "tests/fakes/fake_driver.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "tests/support/tar_builder.h"
#include "tests/unit/test_util.h"

namespace zunvm {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
using testing_util::Eventually;
using testing_util::TempDir;

// Records events per sandbox, and which thread delivered them.
class Recorder : public DriverEvents {
 public:
  void OnOutput(const std::string& uuid, Stream s, const std::string& d, const OutputMark&) override {
    std::lock_guard<std::mutex> l(mu_);
    (s == Stream::kStdout ? out_ : err_)[uuid] += d;
    threads_.push_back(std::this_thread::get_id());
    cv_.notify_all();
  }
  void OnExit(const std::string& uuid, int code) override {
    std::lock_guard<std::mutex> l(mu_);
    exits_[uuid].push_back(code);
    threads_.push_back(std::this_thread::get_id());
    cv_.notify_all();
  }
  void OnLost(const std::string&, const std::string&) override {}

  // Waits until `uuid` has `n` exits; false at the deadline.
  bool WaitExits(const std::string& uuid, size_t n, milliseconds t = seconds(10)) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, t, [&] { return exits_[uuid].size() >= n; });
  }
  std::vector<int> exits(const std::string& uuid) {
    std::lock_guard<std::mutex> l(mu_);
    return exits_[uuid];
  }
  std::string out(const std::string& uuid) {
    std::lock_guard<std::mutex> l(mu_);
    return out_[uuid];
  }
  std::string err(const std::string& uuid) {
    std::lock_guard<std::mutex> l(mu_);
    return err_[uuid];
  }
  std::vector<std::thread::id> threads() {
    std::lock_guard<std::mutex> l(mu_);
    return threads_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> out_, err_;
  std::map<std::string, std::vector<int>> exits_;
  std::vector<std::thread::id> threads_;
};

const std::string kA = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
const std::string kB = "bbbbbbbb-0000-0000-0000-000000000002";

SandboxSpec Spec(const std::string& uuid, std::vector<std::string> argv) {
  SandboxSpec s;
  s.uuid = uuid;
  s.name = "c-" + uuid.substr(0, 4);
  s.hostname = "box";
  s.argv = std::move(argv);
  s.env = {{"GREETING", "hello"}};
  s.memory_mib = 256;
  return s;
}

class FakeDriverTest : public ::testing::Test {
 protected:
  FakeDriverTest() { d_.SetEvents(&ev_); }
  // Creates and starts a sandbox running `argv`.
  void Run(const std::string& uuid, std::vector<std::string> argv) {
    ASSERT_TRUE(d_.Create(Spec(uuid, std::move(argv))));
    ASSERT_TRUE(d_.Start(uuid).ok());
  }
  SandboxState StateOf(const std::string& uuid) { return d_.Inspect(uuid)->state; }

  Recorder ev_;
  FakeDriver d_;
};

std::string OneFileTar(const std::string& name, const std::string& data) {
  return testing_util::MakeTar({{name, data}});
}

TEST_F(FakeDriverTest, IdentityAndCreate) {
  EXPECT_EQ(d_.Name(), "fake");
  EXPECT_EQ(d_.Runtimes(), (std::vector<std::string>{"kata", "kata-debian", "runc", "crun"}));
  auto info = d_.Create(Spec(kA, {"true"}));
  ASSERT_TRUE(info);
  EXPECT_EQ(info->sandbox_id, "fake-0a1b2c3d4e5f");
  EXPECT_EQ(info->state, SandboxState::kCreated);
  EXPECT_FALSE(info->exit_code);
  EXPECT_EQ(info->hostname, "box");
  EXPECT_EQ(d_.Create(Spec(kA, {"true"})).error().code(), Code::kConflict);
  EXPECT_EQ(d_.Create(Spec("", {"true"})).error().code(), Code::kInvalidArgument);
  auto bad_workdir = Spec(kB, {"true"});
  bad_workdir.workdir = "/etc/hostname";
  EXPECT_EQ(d_.Create(bad_workdir).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(d_.Inspect(kB).error().code(), Code::kNotFound);
  auto list = d_.List();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].uuid, kA);
}

TEST_F(FakeDriverTest, EchoOutputArrivesAsEventsThenExit0) {
  Run(kA, {"echo", "hello", "world"});
  ASSERT_TRUE(ev_.WaitExits(kA, 1));
  EXPECT_EQ(ev_.out(kA), "hello world\n");
  EXPECT_EQ(ev_.exits(kA), std::vector<int>{0});
  auto info = d_.Inspect(kA);
  EXPECT_EQ(info->state, SandboxState::kStopped);
  EXPECT_EQ(info->exit_code, 0);
  for (auto id : ev_.threads()) EXPECT_NE(id, std::this_thread::get_id());
}

TEST_F(FakeDriverTest, FalseExits1) {
  Run(kA, {"false"});
  ASSERT_TRUE(ev_.WaitExits(kA, 1));
  EXPECT_EQ(ev_.exits(kA), std::vector<int>{1});
  EXPECT_EQ(d_.Inspect(kA)->exit_code, 1);
}

TEST_F(FakeDriverTest, ShellScriptSeparatesStreams) {
  Run(kA, {"sh", "-c", "echo a; echo b >&2; exit 3"});
  ASSERT_TRUE(ev_.WaitExits(kA, 1));
  EXPECT_EQ(ev_.out(kA), "a\n");
  EXPECT_EQ(ev_.err(kA), "b\n");
  EXPECT_EQ(ev_.exits(kA), std::vector<int>{3});
}

TEST_F(FakeDriverTest, SleepExitsByItselfAfterItsTime) {
  auto start = Clock::now();
  Run(kA, {"sleep", "0.2"});
  EXPECT_EQ(StateOf(kA), SandboxState::kRunning);
  ASSERT_TRUE(ev_.WaitExits(kA, 1));
  EXPECT_GE(Clock::now() - start, milliseconds(200));
  EXPECT_EQ(ev_.exits(kA), std::vector<int>{0});
  EXPECT_EQ(StateOf(kA), SandboxState::kStopped);
}

TEST_F(FakeDriverTest, OutputAfterASleepComesLater) {
  Run(kA, {"sh", "-c", "echo first; sleep 0.3; echo second"});
  ASSERT_TRUE(Eventually([&] { return ev_.out(kA) == "first\n"; }));
  EXPECT_EQ(ev_.out(kA), "first\n");  // not yet "second": that is 0.3 s away
  ASSERT_TRUE(ev_.WaitExits(kA, 1));
  EXPECT_EQ(ev_.out(kA), "first\nsecond\n");
}

TEST_F(FakeDriverTest, StateMachineConflicts) {
  Run(kA, {"sleep", "inf"});
  EXPECT_EQ(d_.Start(kA).code(), Code::kConflict);
  EXPECT_EQ(d_.Unpause(kA).code(), Code::kConflict);
  EXPECT_EQ(d_.Delete(kA, false).code(), Code::kConflict);
  EXPECT_EQ(d_.Start("nope").code(), Code::kNotFound);
  EXPECT_EQ(d_.Stop("nope", seconds(1)).error().code(), Code::kNotFound);
  ASSERT_TRUE(d_.Create(Spec(kB, {"sleep", "inf"})));
  EXPECT_EQ(d_.Pause(kB).code(), Code::kConflict);
  EXPECT_EQ(d_.Kill(kB, 9).code(), Code::kConflict);
  EXPECT_EQ(d_.Exec(kB, {"echo"}, seconds(1)).error().code(), Code::kConflict);
  EXPECT_EQ(d_.Top(kB, "").error().code(), Code::kConflict);
  EXPECT_EQ(d_.Stats(kB).error().code(), Code::kConflict);
  EXPECT_EQ(*d_.Stop(kB, seconds(1)), 0);  // never ran
  EXPECT_EQ(StateOf(kB), SandboxState::kCreated);
}

TEST_F(FakeDriverTest, StopReturns143WithoutAnExitEvent) {
  Run(kA, {"sleep", "inf"});
  auto code = d_.Stop(kA, seconds(10));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 143);
  EXPECT_EQ(d_.Inspect(kA)->exit_code, 143);
  EXPECT_EQ(*d_.Stop(kA, seconds(10)), 143);  // already stopped: the last code
  // Restart from Stopped with a process that exits: its exit is the only event, so none was
  // queued for the stop (events are delivered in order by one thread).
  ASSERT_TRUE(d_.Start(kA).ok());
  ASSERT_TRUE(d_.Stop(kA, seconds(1)));
  ASSERT_TRUE(d_.Delete(kA, false).ok());
  Run(kA, {"exit", "7"});
  ASSERT_TRUE(ev_.WaitExits(kA, 1));
  EXPECT_EQ(ev_.exits(kA), std::vector<int>{7});
}

TEST_F(FakeDriverTest, Kill9Gives137ThroughOnExit) {
  Run(kA, {"sleep", "inf"});
  ASSERT_TRUE(d_.Kill(kA, 9).ok());
  ASSERT_TRUE(ev_.WaitExits(kA, 1));
  EXPECT_EQ(ev_.exits(kA), std::vector<int>{137});
  EXPECT_EQ(d_.Inspect(kA)->exit_code, 137);
  EXPECT_EQ(d_.Kill(kA, 9).code(), Code::kConflict);
  Run(kB, {"sleep", "inf"});
  EXPECT_EQ(d_.Kill(kB, 0).code(), Code::kInvalidArgument);
  ASSERT_TRUE(d_.Kill(kB, 28).ok());  // SIGWINCH: harmless
  EXPECT_EQ(StateOf(kB), SandboxState::kRunning);
  ASSERT_TRUE(d_.Kill(kB, 15).ok());
  ASSERT_TRUE(ev_.WaitExits(kB, 1));
  EXPECT_EQ(ev_.exits(kB), std::vector<int>{143});
}

TEST_F(FakeDriverTest, PauseFreezesTheTimer) {
  auto start = Clock::now();
  Run(kA, {"sh", "-c", "sleep 0.3; exit 5"});
  ASSERT_TRUE(d_.Pause(kA).ok());
  EXPECT_EQ(StateOf(kA), SandboxState::kPaused);
  EXPECT_EQ(d_.Pause(kA).code(), Code::kConflict);
  EXPECT_EQ(d_.Exec(kA, {"echo"}, seconds(1)).error().code(), Code::kConflict);
  // Well past the 0.3 s the process needed: still paused, no exit.
  EXPECT_FALSE(ev_.WaitExits(kA, 1, milliseconds(600)));
  EXPECT_EQ(StateOf(kA), SandboxState::kPaused);
  auto paused_for = Clock::now() - start;
  ASSERT_TRUE(d_.Unpause(kA).ok());
  ASSERT_TRUE(ev_.WaitExits(kA, 1));
  EXPECT_EQ(ev_.exits(kA), std::vector<int>{5});
  // It resumed with what was left, not from scratch, and not at once.
  EXPECT_GE(Clock::now() - start, paused_for + milliseconds(100));
}

TEST_F(FakeDriverTest, ExecRunsInTheSandbox) {
  Run(kA, {"sleep", "inf"});
  auto r = d_.Exec(kA, {"echo", "hi"}, seconds(5));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output, "hi\n");
  EXPECT_EQ(r->exit_code, 0);
  r = d_.Exec(kA, {"sh", "-c", "echo $GREETING > /tmp/g; echo err >&2; cat /tmp/g; exit 4"},
              seconds(5));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output, "err\nhello\n");
  EXPECT_EQ(r->exit_code, 4);
  r = d_.Exec(kA, {"hostname"}, seconds(5));
  EXPECT_EQ(r->output, "box\n");
  r = d_.Exec(kA, {"nope"}, seconds(5));
  EXPECT_EQ(r->exit_code, 127);
  EXPECT_EQ(d_.Exec(kA, {}, seconds(5)).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(d_.Exec("missing", {"echo"}, seconds(5)).error().code(), Code::kNotFound);
}

TEST_F(FakeDriverTest, ExecWaitsItsTimeOrTimesOut) {
  Run(kA, {"sleep", "inf"});
  auto start = Clock::now();
  auto r = d_.Exec(kA, {"sleep", "0.2"}, seconds(5));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_GE(Clock::now() - start, milliseconds(200));
  EXPECT_LT(Clock::now() - start, seconds(4));

  start = Clock::now();
  auto t = d_.Exec(kA, {"sleep", "5"}, seconds(1));
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code(), Code::kDeadlineExceeded);
  EXPECT_GE(Clock::now() - start, seconds(1));
  EXPECT_LT(Clock::now() - start, milliseconds(4500));
  EXPECT_EQ(d_.Exec(kA, {"tail", "-f", "/dev/null"}, seconds(0)).error().code(),
            Code::kDeadlineExceeded);
}

TEST_F(FakeDriverTest, TopListsMainProcessAndExecs) {
  Run(kA, {"sleep", "infinity"});
  auto top = d_.Top(kA, "-ef");
  ASSERT_TRUE(top);
  EXPECT_EQ(top->titles,
            (std::vector<std::string>{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}));
  ASSERT_EQ(top->processes.size(), 1u);
  EXPECT_EQ(top->processes[0][1], "1");
  EXPECT_EQ(top->processes[0][7], "sleep infinity");

  auto exec = std::async(std::launch::async, [&] {
    return d_.Exec(kA, {"sleep", "30"}, seconds(30));
  });
  ASSERT_TRUE(Eventually([&] { return d_.Top(kA, "")->processes.size() == 2; }));
  EXPECT_EQ(d_.Top(kA, "")->processes[1][7], "sleep 30");
  // Stopping the sandbox ends the exec with it.
  ASSERT_TRUE(d_.Stop(kA, seconds(1)));
  ASSERT_EQ(exec.wait_for(seconds(5)), std::future_status::ready);
  auto r = exec.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 137);
}

TEST_F(FakeDriverTest, StatsResizeUpdateCommit) {
  auto spec = Spec(kA, {"sleep", "inf"});
  spec.tty = true;
  ASSERT_TRUE(d_.Create(spec));
  EXPECT_EQ(d_.ResizeTty(kA, 80, 24).code(), Code::kConflict);  // not running
  ASSERT_TRUE(d_.Start(kA).ok());
  EXPECT_TRUE(d_.ResizeTty(kA, 80, 24).ok());
  EXPECT_EQ(d_.ResizeTty(kA, 0, 24).code(), Code::kInvalidArgument);
  Run(kB, {"sleep", "inf"});
  EXPECT_EQ(d_.ResizeTty(kB, 80, 24).code(), Code::kInvalidArgument);  // no tty

  auto s = d_.Stats(kA);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->mem_limit_mib, 256);
  EXPECT_GT(s->mem_usage_mib, 1);
  EXPECT_LT(s->mem_usage_mib, 64);
  EXPECT_GE(s->cpu_percent, 0);
  EXPECT_LT(s->cpu_percent, 5);
  auto live = d_.Update(kA, 2, 1024);
  ASSERT_TRUE(live);
  EXPECT_TRUE(*live);
  EXPECT_EQ(d_.Stats(kA)->mem_limit_mib, 1024);
  EXPECT_EQ(d_.Update("nope", 1, 1).error().code(), Code::kNotFound);

  auto id = d_.Commit(kA, "repo", "v1");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->size(), 7u + 64u);
  EXPECT_EQ(id->rfind("sha256:", 0), 0u);
  EXPECT_EQ(*id, *d_.Commit(kA, "repo", "v1"));
  EXPECT_NE(*id, *d_.Commit(kA, "repo", "v2"));
}

TEST_F(FakeDriverTest, DeleteSemantics) {
  Run(kA, {"sleep", "inf"});
  EXPECT_EQ(d_.Delete(kA, false).code(), Code::kConflict);
  EXPECT_TRUE(d_.Delete(kA, true).ok());
  EXPECT_EQ(d_.Inspect(kA).error().code(), Code::kNotFound);
  EXPECT_TRUE(d_.Delete(kA, false).ok());  // missing: fine
  // A process deleted mid-way sends nothing, and its old timer does not reach a new sandbox
  // with the same uuid.
  Run(kB, {"sh", "-c", "sleep 0.2; echo old"});
  ASSERT_TRUE(d_.Delete(kB, true).ok());
  Run(kB, {"sh", "-c", "sleep 0.4; echo new"});
  ASSERT_TRUE(ev_.WaitExits(kB, 1));
  EXPECT_EQ(ev_.out(kB), "new\n");
}

TEST_F(FakeDriverTest, ArchivesRoundTripAndTraversalIsRefused) {
  Run(kA, {"sleep", "inf"});
  ASSERT_TRUE(d_.PutArchive(kA, "/tmp/", OneFileTar("greeting.txt", "hi there")).ok());
  auto r = d_.Exec(kA, {"cat", "/tmp/greeting.txt"}, seconds(5));
  EXPECT_EQ(r->output, "hi there");
  auto a = d_.GetArchive(kA, "/tmp/./greeting.txt");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->stat.name, "greeting.txt");
  EXPECT_EQ(a->stat.size, 8);
  // The exported tar extracts into another sandbox unchanged.
  Run(kB, {"sleep", "inf"});
  ASSERT_TRUE(d_.PutArchive(kB, "/root", a->tar).ok());
  EXPECT_EQ(d_.Exec(kB, {"cat", "/root/greeting.txt"}, seconds(5))->output, "hi there");

  for (const char* evil : {"../x", "/abs"}) {
    EXPECT_EQ(d_.PutArchive(kA, "/tmp", OneFileTar(evil, "x")).code(), Code::kInvalidArgument)
        << evil;
  }
  EXPECT_EQ(d_.Exec(kA, {"ls", "/"}, seconds(5))->output, "bin\netc\nroot\ntmp\n");
  auto g = d_.GetArchive(kA, "/no/such");
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code(), Code::kNotFound);
  EXPECT_EQ(g.error().message(), "Could not find the file /no/such in container " + kA);
  EXPECT_EQ(d_.PutArchive(kA, "/no/such", OneFileTar("f", "x")).code(), Code::kNotFound);
  EXPECT_EQ(d_.PutArchive(kA, "/etc/hostname", OneFileTar("f", "x")).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(d_.PutArchive(kA, "/tmp", "garbage").code(), Code::kInvalidArgument);
  EXPECT_EQ(d_.GetArchive("nope", "/").error().code(), Code::kNotFound);
}

TEST(FakeDriverPersistence, ARestartFindsSandboxesAsTheyWere) {
  TempDir dir;
  const std::string file = dir.path() + "/fake.json";
  {
    Recorder ev;
    FakeDriver d(file);
    d.SetEvents(&ev);
    auto spec = Spec(kA, {"sleep", "inf"});
    spec.labels = {{"tier", "web"}};
    ASSERT_TRUE(d.Create(spec));
    ASSERT_TRUE(d.Start(kA).ok());
    ASSERT_TRUE(d.PutArchive(kA, "/tmp", OneFileTar("kept.txt", "kept")).ok());
    ASSERT_TRUE(d.Create(Spec(kB, {"sh", "-c", "echo early; sleep 1; echo late; exit 5"})));
    ASSERT_TRUE(d.Start(kB).ok());
    ASSERT_TRUE(Eventually([&] { return ev.out(kB) == "early\n"; }));
  }  // the "daemon" exits; the sandboxes do not

  Recorder ev;
  FakeDriver d(file);
  d.SetEvents(&ev);
  auto a = d.Inspect(kA);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->state, SandboxState::kRunning);
  EXPECT_EQ(a->sandbox_id, "fake-0a1b2c3d4e5f");
  EXPECT_EQ(d.Exec(kA, {"cat", "/tmp/kept.txt"}, seconds(5))->output, "kept");
  EXPECT_EQ(d.Top(kA, "")->processes[0][7], "sleep inf");
  // The second process carries on where it was: only the rest of its output, then its exit.
  ASSERT_TRUE(ev.WaitExits(kB, 1));
  EXPECT_EQ(ev.out(kB), "late\n");
  EXPECT_EQ(ev.exits(kB), std::vector<int>{5});
  EXPECT_EQ(*d.Stop(kA, seconds(1)), 143);

  FakeDriver third(file);  // sees the stop
  EXPECT_EQ(third.Inspect(kA)->state, SandboxState::kStopped);
  EXPECT_EQ(third.Inspect(kA)->exit_code, 143);
  EXPECT_EQ(third.Inspect(kB)->exit_code, 5);
}

TEST(FakeDriverPersistence, PausedStaysPausedAcrossRestart) {
  TempDir dir;
  const std::string file = dir.path() + "/fake.json";
  {
    FakeDriver d(file);
    ASSERT_TRUE(d.Create(Spec(kA, {"sh", "-c", "sleep 0.2; exit 9"})));
    ASSERT_TRUE(d.Start(kA).ok());
    ASSERT_TRUE(d.Pause(kA).ok());
  }
  Recorder ev;
  FakeDriver d(file);
  d.SetEvents(&ev);
  EXPECT_EQ(d.Inspect(kA)->state, SandboxState::kPaused);
  ASSERT_TRUE(d.Unpause(kA).ok());
  ASSERT_TRUE(ev.WaitExits(kA, 1));
  EXPECT_EQ(ev.exits(kA), std::vector<int>{9});
}

TEST(FakeDriverPersistence, CorruptStateFileStartsEmpty) {
  TempDir dir;
  const std::string file = dir.path() + "/fake.json";
  std::string valid;
  {
    FakeDriver d(file);
    ASSERT_TRUE(d.Create(Spec(kA, {"true"})));
    std::ifstream in(file);
    valid.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_FALSE(valid.empty());
  for (const std::string& junk :
       {std::string("{not json"), valid.substr(0, valid.size() / 2), std::string("[]"),
        std::string("{\"version\":1,\"sandboxes\":[{\"spec\":5}]}"), std::string("\0\xff", 2)}) {
    std::ofstream(file, std::ios::trunc) << junk;
    FakeDriver d(file);
    ASSERT_TRUE(d.List());
    EXPECT_TRUE(d.List()->empty()) << junk;
    ASSERT_TRUE(d.Create(Spec(kB, {"true"})));  // and it is usable, and saves again
  }
  FakeDriver d(file);
  EXPECT_TRUE(d.Inspect(kB));
  FakeDriver unreadable(dir.path() + "/no/such/dir/state.json");
  EXPECT_TRUE(unreadable.List()->empty());
  EXPECT_TRUE(unreadable.Create(Spec(kA, {"true"})));  // cannot save: still works in memory
}

}  // namespace
}  // namespace zunvm
