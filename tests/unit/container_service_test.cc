// ContainerService against the fake driver and a real SQLite file: recovery after a crash,
// stale exits, restart policy and the per-container ordering.
#include <gtest/gtest.h>

#include "db/action_store.h"
#include "db/container_store.h"
#include "db/database.h"
#include "tests/fakes/fake_driver.h"
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
    svc_ = std::make_unique<ContainerService>(cfg_, store_.get(), actions_.get(), logs_.get(),
                                              driver_.get(), exec_.get(),
                                              [] { return std::chrono::system_clock::now(); });
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

}  // namespace
}  // namespace zunvm
