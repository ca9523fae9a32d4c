// ContainerService against the fake driver and a real SQLite file: recovery after a crash,
// stale exits, restart policy and the per-container ordering.
#include <set>
#include <thread>
#include <atomic>
#include <gtest/gtest.h>

#include "common/ids.h"
#include "common/strings.h"
#include "db/action_store.h"
#include "db/container_store.h"
#include "db/database.h"
#include "tests/fakes/fake_driver.h"
#include "tests/fakes/manual_clock.h"
#include "service/container_records.h"
#include "service/container_service.h"
#include "tests/unit/test_util.h"

namespace zunvm {
namespace {

using testing_util::Eventually;
using testing_util::TempDir;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(dir_.path() + "/z.sqlite");
    ASSERT_TRUE(db);
    db_ = std::move(*db);
    store_ = std::make_unique<ContainerStore>(db_.get());
    actions_ = std::make_unique<ActionStore>(db_.get());
    logs_ = std::make_unique<LogStore>(dir_.path(), 1 << 20);
    driver_ = std::make_unique<FakeDriver>();
    exec_ = std::make_unique<SerialExecutor>(2);
    cfg_.host = "h";
    svc_ = std::make_unique<ContainerService>(ContainerServiceDeps{
        .cfg = &cfg_, .store = store_.get(), .actions = actions_.get(), .logs = logs_.get(),
        .driver = driver_.get(), .executor = exec_.get(), .clock = &clock_});
    driver_->SetEvents(svc_.get());
  }
  void TearDown() override {
    exec_->Shutdown();
    driver_.reset();
  }

  // A record as a crashed daemon may have left it.
  Container Record(const std::string& uuid, const std::string& st,
                   std::optional<std::string> task = std::nullopt) {
    Container c;
    c.uuid = uuid;
    c.name = "c" + uuid.substr(0, 4);
    c.image = "busybox";
    c.command = std::vector<std::string>{"sleep", "inf"};
    c.status = ParseContainerStatus(st).value();
    if (task) c.task_state = ParseTaskState(*task).value();
    c.container_id = "fake-x";
    c.created_at = std::chrono::system_clock::now();
    EXPECT_TRUE(store_->Insert(c).ok());
    return c;
  }
  void Sandbox(const std::string& uuid, bool start) {
    SandboxSpec s;
    s.uuid = uuid;
    s.hostname = "h";
    s.argv = {"sleep", "inf"};
    ASSERT_TRUE(driver_->Create(s));
    if (start) {
      ASSERT_TRUE(driver_->Start(uuid).ok());
    }
  }
  std::string StatusOf(const std::string& uuid) {
    auto c = store_->Get(uuid);
    return c ? ToString(c->status) : "gone";
  }

  TempDir dir_;
  Config cfg_;
  ManualClock clock_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<ContainerStore> store_;
  std::unique_ptr<ActionStore> actions_;
  std::unique_ptr<LogStore> logs_;
  std::unique_ptr<FakeDriver> driver_;
  std::unique_ptr<SerialExecutor> exec_;
  std::unique_ptr<ContainerService> svc_;
};

const std::string A = "aaaaaaaa-0000-0000-0000-000000000001";
const std::string B = "bbbbbbbb-0000-0000-0000-000000000002";
const std::string C = "cccccccc-0000-0000-0000-000000000003";
const std::string D = "dddddddd-0000-0000-0000-000000000004";
const std::string E = "eeeeeeee-0000-0000-0000-000000000005";
const std::string F = "ffffffff-0000-0000-0000-000000000006";

TEST_F(ServiceTest, RecoverSettlesEveryKindOfLeftover) {
  Record(A, "Creating", "container_creating");  // interrupted create, half-made sandbox
  Sandbox(A, false);
  Sandbox(B, true);                             // a sandbox nobody knows
  Record(C, "Running");                         // its sandbox vanished
  Record(D, "Deleting", "container_deleting");  // interrupted delete
  Sandbox(D, false);
  Record(E, "Running", "container_stopping");   // interrupted stop, still running
  Sandbox(E, true);
  Record(F, "Running");                         // healthy
  Sandbox(F, true);
  ASSERT_TRUE(svc_->Recover().ok());
  ASSERT_TRUE(exec_->WaitIdle(std::chrono::seconds(10)));
  EXPECT_EQ(StatusOf(A), "Error");
  EXPECT_EQ(driver_->Inspect(A).error().code(), Code::kNotFound);
  EXPECT_EQ(driver_->Inspect(B).error().code(), Code::kNotFound);
  EXPECT_EQ(StatusOf(C), "Error");
  EXPECT_NE(store_->Get(C)->status_reason->find("No such sandbox"), std::string::npos);
  EXPECT_EQ(StatusOf(D), "gone");
  EXPECT_EQ(driver_->Inspect(D).error().code(), Code::kNotFound);
  EXPECT_EQ(StatusOf(E), "Running");
  EXPECT_FALSE(store_->Get(E)->task_state.has_value());
  EXPECT_EQ(StatusOf(F), "Running");
}

TEST_F(ServiceTest, AutoHealRebuildsAVanishedSandbox) {
  Container c = Record(A, "Running");
  c.auto_heal = true;
  ASSERT_TRUE(store_->Update(c).ok());
  ASSERT_TRUE(svc_->Recover().ok());
  ASSERT_TRUE(exec_->WaitIdle(std::chrono::seconds(10)));
  EXPECT_EQ(StatusOf(A), "Created");
  EXPECT_TRUE(driver_->Inspect(A));
}

TEST_F(ServiceTest, StopThenStartIsNotUndoneByALateExit) {
  RequestContext ctx{"req-1", "u", "p"};
  Container in;
  in.image = "busybox";
  in.command = std::vector<std::string>{"sleep", "inf"};
  auto c = svc_->Create(ctx, in, true);
  ASSERT_TRUE(c);
  ASSERT_TRUE(Eventually([&] { return StatusOf(c->uuid) == "Running"; }));
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(svc_->Stop(ctx, c->uuid, 1).ok());
    ASSERT_TRUE(Eventually([&] { return StatusOf(c->uuid) == "Stopped"; }));
    ASSERT_TRUE(svc_->Start(ctx, c->uuid).ok());
    ASSERT_TRUE(Eventually([&] { return StatusOf(c->uuid) == "Running"; }));
  }
  ASSERT_TRUE(exec_->WaitIdle(std::chrono::seconds(10)));
  EXPECT_EQ(StatusOf(c->uuid), "Running");
  EXPECT_EQ(driver_->Inspect(c->uuid)->state, SandboxState::kRunning);
}

// Generated names come from 576 (Zun's letter-number-container): a taken one is drawn
// again, and past the 576 the name carries the uuid's start, instead of refusing the create.
TEST_F(ServiceTest, UnnamedCreatesNeverCollideOnAGeneratedName) {
  RequestContext ctx{"req-1", "u", "p"};
  std::set<std::string> names;
  size_t zun_form = 0;
  for (int i = 0; i < 600; ++i) {
    Container in;
    in.image = "busybox";
    in.command = std::vector<std::string>{"true"};
    auto c = svc_->Create(ctx, in, false);
    ASSERT_TRUE(c) << i << ": " << c.error().ToString();
    names.insert(c->name);
    if (c->name.size() > 10 && c->name.substr(c->name.size() - 10) == "-container") ++zun_form;
    else EXPECT_EQ(c->name.substr(c->name.rfind('-') + 1), c->uuid.substr(0, 8)) << c->name;
  }
  EXPECT_EQ(names.size(), 600u);
  EXPECT_GT(zun_form, 300u);  // most of the 576 are used before uuids are needed
  ASSERT_TRUE(exec_->WaitIdle(std::chrono::seconds(30)));
}

TEST_F(ServiceTest, KilledContainerIsNotRestartedByPolicy) {
  RequestContext ctx{"req-1", "u", "p"};
  Container in;
  in.image = "busybox";
  in.command = std::vector<std::string>{"sleep", "inf"};
  in.restart_policy = RestartPolicy{"always", 0};
  auto c = svc_->Create(ctx, in, true);
  ASSERT_TRUE(c);
  ASSERT_TRUE(Eventually([&] { return StatusOf(c->uuid) == "Running"; }));
  ASSERT_TRUE(svc_->Kill(ctx, c->uuid, 9).ok());
  ASSERT_TRUE(Eventually([&] { return StatusOf(c->uuid) == "Stopped"; }));
  ASSERT_TRUE(exec_->WaitIdle(std::chrono::seconds(5)));
  EXPECT_EQ(StatusOf(c->uuid), "Stopped");
  EXPECT_EQ(*store_->Get(c->uuid)->exit_code, 137);
  auto list = actions_->List(c->uuid);
  ASSERT_TRUE(list);
  EXPECT_EQ(list->front().action, "kill");
  EXPECT_FALSE(list->front().message.has_value());  // succeeded
}

TEST_F(ServiceTest, FailedCreateIsErrorWithReason) {
  RequestContext ctx{"req-1", "u", "p"};
  Container in;
  in.image = "busybox";
  in.workdir = "/etc/hostname";  // a file: the fake cannot make it a directory
  auto c = svc_->Create(ctx, in, true);
  ASSERT_TRUE(c);
  ASSERT_TRUE(Eventually([&] { return StatusOf(c->uuid) == "Error"; }));
  EXPECT_TRUE(store_->Get(c->uuid)->status_reason.has_value());
  EXPECT_FALSE(store_->Get(c->uuid)->task_state.has_value());
}

// Names are unique per project by default (Zun's unique_container_name_scope = project),
// ignoring case, on create and on rename; other projects may use the same name.
TEST_F(ServiceTest, NamesAreUniqueWithinAProject) {
  RequestContext alice{"req-1", "alice", "pa"};
  RequestContext bob{"req-2", "bob", "pb"};
  Container in;
  in.image = "busybox";
  in.name = "web";
  ASSERT_TRUE(svc_->Create(alice, in, false));
  in.name = "WEB";
  auto again = svc_->Create(alice, in, false);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Code::kConflict);
  EXPECT_EQ(again.error().kind(), "ContainerAlreadyExists");
  auto other = svc_->Create(bob, in, false);  // another project: its own names
  ASSERT_TRUE(other) << other.error().ToString();
  in.name = "db";
  auto db = svc_->Create(alice, in, false);
  ASSERT_TRUE(db);
  auto renamed = svc_->Rename(alice, db->uuid, "Web");
  ASSERT_FALSE(renamed);
  EXPECT_EQ(renamed.error().code(), Code::kConflict);
  EXPECT_EQ(store_->Get(db->uuid)->name, "db");  // the refused rename changed nothing
  EXPECT_TRUE(svc_->Rename(alice, db->uuid, "db2"));
}

// A PATCH whose new name is taken is refused before anything changes: the sandbox keeps its
// limits and the record its values.
TEST_F(ServiceTest, PatchWithATakenNameChangesNothing) {
  RequestContext ctx{"req-1", "u", "p"};
  Container in;
  in.image = "busybox";
  in.command = std::vector<std::string>{"sleep", "inf"};
  in.name = "first";
  ASSERT_TRUE(svc_->Create(ctx, in, true));
  in.name = "second";
  in.memory = 256;
  auto second = svc_->Create(ctx, in, true);
  ASSERT_TRUE(second);
  ASSERT_TRUE(Eventually([&] { return StatusOf(second->uuid) == "Running"; }));
  ContainerPatch patch;
  patch.name = "First";
  patch.memory = 384;
  auto r = svc_->Update(ctx, second->uuid, patch);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kConflict);
  EXPECT_EQ(store_->Get(second->uuid)->memory, 256);
  EXPECT_EQ(driver_->Stats(second->uuid)->mem_limit_mib, 256);
  patch.name = "third";
  auto renamed = svc_->Update(ctx, second->uuid, patch);
  ASSERT_TRUE(renamed);
  EXPECT_EQ(driver_->Stats(second->uuid)->mem_limit_mib, 384);
  // A record changed in memory no longer carries the stored revision (the API's rendered views
  // key on it); a fresh read has the new one.
  EXPECT_EQ(renamed->revision, 0u);
  EXPECT_NE(svc_->Lookup(ctx, "third")->revision, 0u);
}

TEST(ContainerRecordsNames, GlobalScopeAndNoScope) {
  TempDir dir;
  auto db = Database::Open(dir.path() + "/z.sqlite");
  ASSERT_TRUE(db);
  ContainerStore store(db->get());
  ActionStore actions(db->get());
  ManualClock clock;
  auto make = [](const std::string& uuid, const std::string& project) {
    Container c;
    c.uuid = uuid;
    c.name = "same";
    c.image = "busybox";
    c.project_id = project;
    c.created_at = std::chrono::system_clock::now();
    return c;
  };
  auto admit = [](Container&) { return Status::Ok(); };
  ContainerRecords global(&store, &actions, nullptr, &clock, "global");
  Container a = make(A, "pa"), b = make(B, "pb"), c = make(C, "pa");
  ASSERT_TRUE(global.Insert(a, admit).ok());
  EXPECT_EQ(global.Insert(b, admit).code(), Code::kConflict);  // another project, same name
  ContainerRecords unscoped(&store, &actions, nullptr, &clock, "");
  ASSERT_TRUE(unscoped.Insert(b, admit).ok());
  ASSERT_TRUE(unscoped.Insert(c, admit).ok());
  auto found = unscoped.Lookup("same");  // a shared name is ambiguous to look up
  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code(), Code::kConflict);
}

// ContainerRecords over a real SQLite file, names unique per project.
class RecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(dir_.path() + "/z.sqlite");
    ASSERT_TRUE(db);
    db_ = std::move(*db);
  }
  Container Make(const std::string& uuid, const std::string& name) {
    Container c;
    c.uuid = uuid;
    c.name = name;
    c.image = "busybox";
    c.project_id = "p";
    c.created_at = std::chrono::system_clock::now();
    return c;
  }
  TempDir dir_;
  std::unique_ptr<Database> db_;
  ManualClock clock_;
};

// A uuid that is taken is refused before `admit` runs: admit allocates addresses by uuid, and
// undoing a failed allocation would release the existing container's.
TEST_F(RecordsTest, TakenUuidIsRefusedBeforeAdmit) {
  ContainerStore store(db_.get());
  ActionStore actions(db_.get());
  ContainerRecords records(&store, &actions, nullptr, &clock_, "project");
  int admitted = 0;
  auto admit = [&](Container&) {
    ++admitted;
    return Status::Ok();
  };
  Container c = Make(A, "");
  RequestContext ctx{"req-1", "u", "p"};
  int64_t action = 0;
  ASSERT_TRUE(records.Insert(c, admit, &ctx, &action).ok());
  EXPECT_GT(action, 0);  // the create's action, committed with the record
  ASSERT_TRUE(actions.Get(A, "req-1"));
  Container again = c;
  again.name = "other";
  Status st = records.Insert(again, admit);
  EXPECT_EQ(st.code(), Code::kConflict);
  EXPECT_EQ(st.kind(), "ContainerAlreadyExists");
  EXPECT_EQ(admitted, 1);
}

// Writes to different containers run side by side (no records-wide lock), yet a name stays
// unique: it is checked in the write's own transaction. 8 threads race to insert the same
// name, to insert unnamed containers, to rename onto one name, and to bump the same record.
TEST_F(RecordsTest, ConcurrentWritesKeepNamesUniqueAndLoseNoUpdate) {
  ContainerStore store(db_.get());
  ActionStore actions(db_.get());
  ContainerRecords records(&store, &actions, nullptr, &clock_, "project");
  auto admit = [](Container&) { return Status::Ok(); };
  auto make = [this](const std::string& name) { return Make(NewUuid(), name); };
  Container shared = make("counter");
  ASSERT_TRUE(records.Insert(shared, admit).ok());
  constexpr int kThreads = 8, kRounds = 20;
  std::atomic<int> same_ok{0}, rename_ok{0};
  std::mutex mu;
  std::vector<std::string> unnamed;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        Container same = make("same-" + std::to_string(r));
        Status st = records.Insert(same, admit);
        if (st.ok()) ++same_ok;
        else EXPECT_EQ(st.code(), Code::kConflict) << st.ToString();
        Container anon = make("");
        ASSERT_TRUE(records.Insert(anon, admit).ok());
        {
          std::lock_guard<std::mutex> lock(mu);
          unnamed.push_back(anon.name);
        }
        Container mover = make("mover-" + std::to_string(t) + "-" + std::to_string(r));
        ASSERT_TRUE(records.Insert(mover, admit).ok());
        auto renamed = records.Mutate(mover.uuid, [&](Container& c) {
          c.name = "renamed-" + std::to_string(r);
          return Status::Ok();
        });
        if (renamed) ++rename_ok;
        else EXPECT_EQ(renamed.error().code(), Code::kConflict) << t;
        ASSERT_TRUE(records.Mutate(shared.uuid, [](Container& c) {
          ++c.cpu;
          return Status::Ok();
        }));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(same_ok.load(), kRounds);    // each name went to exactly one of the racers
  EXPECT_EQ(rename_ok.load(), kRounds);  // and each rename target too
  std::set<std::string> distinct(unnamed.begin(), unnamed.end());
  EXPECT_EQ(distinct.size(), unnamed.size());  // no generated name drawn twice
  EXPECT_EQ(unnamed.size(), size_t{kThreads * kRounds});
  auto all = store.All();
  ASSERT_TRUE(all);
  std::set<std::string> lower;
  for (const auto& c : *all) EXPECT_TRUE(lower.insert(ToLower(c.name)).second) << c.name;
  EXPECT_EQ(store.Get(shared.uuid)->cpu, shared.cpu + kThreads * kRounds);  // no lost update
}

// Healthchecks on simulated time: a check runs when due on the service's clock, not on the
// wall clock; `retries` failures in a row make the container unhealthy; auto_heal reboots it.
TEST_F(ServiceTest, HealthchecksRunWhenDueOnTheClock) {
  RequestContext ctx{"req-1", "u", "p"};
  Container bad;
  bad.image = "busybox";
  bad.command = std::vector<std::string>{"sleep", "inf"};
  bad.healthcheck = Healthcheck{"false", 30, 3, 5};
  Container good = bad;
  good.healthcheck = Healthcheck{"true", 30, 3, 5};
  auto b = svc_->Create(ctx, bad, true);
  auto g = svc_->Create(ctx, good, true);
  ASSERT_TRUE(b && g);
  ASSERT_TRUE(Eventually([&] { return StatusOf(b->uuid) == "Running" && StatusOf(g->uuid) == "Running"; }));
  auto health = [&](const std::string& uuid) -> std::string {
    auto c = store_->Get(uuid);
    return c && c->health ? ToString(*c->health) : "none";
  };
  svc_->CheckHealth();  // the first checks run at once
  EXPECT_EQ(health(g->uuid), "healthy");
  EXPECT_EQ(health(b->uuid), "starting");
  for (int i = 0; i < 5; ++i) svc_->CheckHealth();  // none is due: nothing runs
  EXPECT_EQ(health(b->uuid), "starting");
  clock_.Advance(std::chrono::seconds(29));
  svc_->CheckHealth();
  EXPECT_EQ(health(b->uuid), "starting");
  clock_.Advance(std::chrono::seconds(1));
  svc_->CheckHealth();  // the second failure
  EXPECT_EQ(health(b->uuid), "starting");
  clock_.Advance(std::chrono::seconds(30));
  svc_->CheckHealth();  // the third
  EXPECT_EQ(health(b->uuid), "unhealthy");
  EXPECT_EQ(health(g->uuid), "healthy");
  EXPECT_EQ(StatusOf(b->uuid), "Running");  // no auto_heal: it only says so

  // With auto_heal the next failure that makes it unhealthy reboots it.
  Container healing = bad;
  healing.healthcheck = Healthcheck{"false", 30, 1, 5};
  healing.auto_heal = true;
  auto h = svc_->Create(ctx, healing, true);
  ASSERT_TRUE(h);
  ASSERT_TRUE(Eventually([&] { return StatusOf(h->uuid) == "Running"; }));
  svc_->CheckHealth();
  ASSERT_TRUE(exec_->WaitIdle(std::chrono::seconds(10)));
  EXPECT_EQ(StatusOf(h->uuid), "Running");
  EXPECT_EQ(health(h->uuid), "none");  // a fresh start: checks begin again
  auto actions = actions_->List(h->uuid);
  ASSERT_TRUE(actions);
  EXPECT_EQ(actions->front().action, "reboot");
  EXPECT_FALSE(actions->front().message.has_value());  // succeeded
}

// Restart back-off on simulated time: 100 ms, then 200 ms, ... on the service's clock.
TEST_F(ServiceTest, RestartPolicyBacksOffOnTheClock) {
  RequestContext ctx{"req-1", "u", "p"};
  Container in;
  in.image = "busybox";
  in.command = std::vector<std::string>{"sh", "-c", "exit 3"};
  in.restart_policy = RestartPolicy{"on-failure", 2};
  auto c = svc_->Create(ctx, in, true);
  ASSERT_TRUE(c);
  auto settled = [&] { return exec_->WaitIdle(std::chrono::seconds(10)); };
  ASSERT_TRUE(Eventually([&] { return StatusOf(c->uuid) == "Restarting"; }));
  ASSERT_TRUE(settled());
  EXPECT_EQ(clock_.Pending(), 1u);
  clock_.Advance(std::chrono::milliseconds(99));
  ASSERT_TRUE(settled());
  EXPECT_EQ(StatusOf(c->uuid), "Restarting");  // not yet due
  EXPECT_EQ(store_->Get(c->uuid)->restart_count, 0);
  clock_.Advance(std::chrono::milliseconds(1));  // the first restart; it exits again
  ASSERT_TRUE(Eventually([&] { return store_->Get(c->uuid)->restart_count == 1 && clock_.Pending() == 1; }));
  clock_.Advance(std::chrono::milliseconds(199));
  ASSERT_TRUE(settled());
  EXPECT_EQ(store_->Get(c->uuid)->restart_count, 1);
  clock_.Advance(std::chrono::milliseconds(1));  // the second and last
  ASSERT_TRUE(Eventually([&] { return StatusOf(c->uuid) == "Stopped"; }));
  ASSERT_TRUE(settled());
  EXPECT_EQ(store_->Get(c->uuid)->restart_count, 2);
  EXPECT_EQ(*store_->Get(c->uuid)->exit_code, 3);
  EXPECT_EQ(clock_.Pending(), 0u);
}

}  // namespace
}  // namespace zunvm
