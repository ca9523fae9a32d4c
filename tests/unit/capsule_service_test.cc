// CapsuleService against the fake driver and a real SQLite file: one sandbox with its members,
// init containers first and in order, a failing init container, members as containers (409 on
// delete alone, out of container lists), delete and what a crash leaves.
#include <gtest/gtest.h>

#include "db/action_store.h"
#include "db/capsule_store.h"
#include "db/container_store.h"
#include "db/database.h"
#include "service/capsule_service.h"
#include "service/container_service.h"
#include "service/log_store.h"
#include "tests/fakes/fake_driver.h"
#include "tests/fakes/manual_clock.h"
#include "tests/unit/test_util.h"

namespace zunvm {
namespace {

using testing_util::Eventually;
using testing_util::TempDir;

class CapsuleServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(dir_.path() + "/z.sqlite");
    ASSERT_TRUE(db);
    db_ = std::move(*db);
    store_ = std::make_unique<ContainerStore>(db_.get());
    actions_ = std::make_unique<ActionStore>(db_.get());
    capsule_store_ = std::make_unique<CapsuleStore>(db_.get());
    logs_ = std::make_unique<LogStore>(dir_.path(), 1 << 20);
    driver_ = std::make_unique<FakeDriver>();
    exec_ = std::make_unique<SerialExecutor>(2);
    cfg_.host = "h";
    svc_ = std::make_unique<ContainerService>(ContainerServiceDeps{
        .cfg = &cfg_, .store = store_.get(), .actions = actions_.get(), .logs = logs_.get(),
        .driver = driver_.get(), .executor = exec_.get(), .clock = &clock_});
    driver_->SetEvents(svc_.get());
    caps_ = std::make_unique<CapsuleService>(CapsuleServiceDeps{
        .cfg = &cfg_, .store = capsule_store_.get(), .containers = svc_.get(), .driver = driver_.get(),
        .executor = exec_.get(), .clock = &clock_, .logs = logs_.get()});
    ctx_.project_id = "p";
    ctx_.user_id = "u";
  }
  void TearDown() override {
    exec_->Shutdown();
    driver_.reset();
  }

  static Container Member(const std::string& name, std::vector<std::string> argv, bool init = false) {
    Container m;
    m.name = name;
    m.image = "busybox";
    m.command = std::move(argv);
    m.init_container = init;
    m.restart_policy = {init ? "no" : "always", 0};
    return m;
  }
  CapsuleRequest Request(std::vector<Container> members) {
    CapsuleRequest r;
    r.capsule.name = "web";
    r.capsule.restart_policy = {"no", 0};
    r.members = std::move(members);
    return r;
  }
  std::string CapsuleStatus(const std::string& uuid) {
    auto c = capsule_store_->Get(uuid);
    return c ? ToString(c->status) : "gone";
  }
  std::string Log(const std::string& uuid) {
    auto text = svc_->Logs(ctx_, uuid, LogQuery{});
    return text ? *text : "";
  }

  TempDir dir_;
  Config cfg_;
  ManualClock clock_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<ContainerStore> store_;
  std::unique_ptr<ActionStore> actions_;
  std::unique_ptr<CapsuleStore> capsule_store_;
  std::unique_ptr<LogStore> logs_;
  std::unique_ptr<FakeDriver> driver_;
  std::unique_ptr<SerialExecutor> exec_;
  std::unique_ptr<ContainerService> svc_;
  std::unique_ptr<CapsuleService> caps_;
  RequestContext ctx_;
};

TEST_F(CapsuleServiceTest, InitContainersRunFirstThenTheMembersInOneSandbox) {
  auto c = caps_->Create(ctx_, Request({Member("i1", {"echo", "first"}, true), Member("i2", {"echo", "second"}, true),
                                        Member("a", {"sleep", "inf"}), Member("b", {"sleep", "inf"})}));
  ASSERT_TRUE(c) << c.error().ToString();
  ASSERT_EQ(c->init_containers.size(), 2u);
  ASSERT_EQ(c->containers.size(), 2u);
  ASSERT_TRUE(Eventually([&] { return CapsuleStatus(c->uuid) == "Running"; }));
  auto [init, members] = caps_->Members(*capsule_store_->Get(c->uuid));
  for (const auto& m : init) {
    EXPECT_EQ(ToString(m.status), std::string("Stopped"));
    EXPECT_EQ(m.exit_code, 0);
  }
  EXPECT_EQ(Log(init[0].uuid), "first\n");
  EXPECT_EQ(Log(init[1].uuid), "second\n");
  // One sandbox: the pod's spec holds the four members, each with the capsule's hostname.
  SandboxSpec pod = driver_->LastSpec();
  EXPECT_EQ(pod.uuid, c->uuid);
  ASSERT_EQ(pod.members.size(), 4u);
  EXPECT_EQ(pod.members[0].uuid, init[0].uuid);
  for (const auto& m : pod.members) EXPECT_EQ(m.hostname, "web");
  for (const auto& m : members) {
    EXPECT_EQ(ToString(m.status), std::string("Running"));
    EXPECT_EQ(m.capsule_id, c->uuid);
  }
  // Members are containers to the API, but listed with their capsule only and never deleted
  // alone.
  ListQuery q;
  EXPECT_TRUE(svc_->List(ctx_, q)->empty());
  EXPECT_TRUE(svc_->Lookup(ctx_, members[0].uuid));
  EXPECT_EQ(svc_->Delete(ctx_, members[0].uuid, true, false).code(), Code::kConflict);
  // The capsule's delete takes the sandbox and every member.
  ASSERT_TRUE(caps_->Delete(ctx_, "web").ok());
  ASSERT_TRUE(Eventually([&] { return CapsuleStatus(c->uuid) == "gone"; }));
  EXPECT_EQ(svc_->Lookup(ctx_, members[0].uuid).error().code(), Code::kNotFound);
  EXPECT_EQ(driver_->Inspect(c->uuid).error().code(), Code::kNotFound);
  EXPECT_EQ(driver_->Inspect(members[1].uuid).error().code(), Code::kNotFound);
}

TEST_F(CapsuleServiceTest, AFailingInitContainerFailsTheCapsuleAndTheRestNeverStart) {
  auto c = caps_->Create(ctx_, Request({Member("i1", {"sh", "-c", "exit 3"}, true), Member("a", {"sleep", "inf"})}));
  ASSERT_TRUE(c);
  ASSERT_TRUE(Eventually([&] { return CapsuleStatus(c->uuid) == "Error"; }));
  auto cap = capsule_store_->Get(c->uuid);
  EXPECT_NE(cap->status_reason->find("Init container i1 failed: exit code 3"), std::string::npos) << *cap->status_reason;
  auto [init, members] = caps_->Members(*cap);
  EXPECT_EQ(ToString(members[0].status), std::string("Error"));
  auto info = driver_->Inspect(members[0].uuid);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, SandboxState::kCreated);  // never started
}

TEST_F(CapsuleServiceTest, OtherProjectsNeitherSeeNorDeleteACapsule) {
  auto c = caps_->Create(ctx_, Request({Member("a", {"sleep", "inf"})}));
  ASSERT_TRUE(c);
  RequestContext other = ctx_;
  other.project_id = "q";
  EXPECT_EQ(caps_->Lookup(other, c->uuid).error().code(), Code::kNotFound);
  EXPECT_EQ(caps_->Delete(other, "web").code(), Code::kNotFound);
  EXPECT_TRUE(caps_->List(other, 10, std::nullopt, false)->empty());
  EXPECT_EQ(caps_->List(ctx_, 10, std::nullopt, false)->size(), 1u);
  EXPECT_EQ(caps_->List(ctx_, 10, std::string("nope"), false).error().code(), Code::kNotFound);
}

TEST_F(CapsuleServiceTest, ACreateCutShortByARestartFailsAndItsSandboxGoes) {
  auto c = caps_->Create(ctx_, Request({Member("a", {"sleep", "inf"})}));
  ASSERT_TRUE(c);
  ASSERT_TRUE(Eventually([&] { return CapsuleStatus(c->uuid) == "Running"; }));
  // As a zunvmd killed mid-create leaves it: the record says Creating.
  auto rec = capsule_store_->Get(c->uuid);
  rec->status = ContainerStatus::kCreating;
  ASSERT_TRUE(capsule_store_->Update(*rec).ok());
  EXPECT_TRUE(caps_->Uuids().count(c->uuid));
  caps_->Recover();
  ASSERT_TRUE(Eventually([&] { return CapsuleStatus(c->uuid) == "Error"; }));
  EXPECT_EQ(driver_->Inspect(c->uuid).error().code(), Code::kNotFound);
}

}  // namespace
}  // namespace zunvm
