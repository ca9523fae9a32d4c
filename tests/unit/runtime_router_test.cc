// RuntimeRouter: creates go to the driver of their runtime, everything else to the driver
// holding the sandbox (also after a restart, from each driver's List), unknown ones to the first.
#include "driver/runtime_router.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/fakes/fake_driver.h"

namespace zunvm {
namespace {

class NullEvents : public DriverEvents {
 public:
  void OnOutput(const std::string&, Stream, const std::string&, const OutputMark&) override {}
  void OnExit(const std::string&, int) override {}
  void OnLost(const std::string&, const std::string&) override {}
};

SandboxSpec Spec(const std::string& uuid, const std::string& runtime) {
  SandboxSpec s;
  s.uuid = uuid;
  s.name = uuid;
  s.hostname = "box";
  s.argv = {"sleep", "100"};
  s.runtime = runtime;
  return s;
}

struct Routed {
  std::unique_ptr<RuntimeRouter> router;
  FakeDriver* vm = nullptr;
  FakeDriver* oci = nullptr;
};

// A vm driver (first: the default) and an oci one, persisted in `dir` so a second router
// over the same files sees the same sandboxes.
Routed Make(const std::string& dir, NullEvents* ev) {
  auto vm = std::make_unique<FakeDriver>(dir + "/vm.json");
  auto oci = std::make_unique<FakeDriver>(dir + "/oci.json");
  vm->SetRuntimes({"kata", "kata-debian"});
  oci->SetRuntimes({"runc", "crun"});
  Routed r{nullptr, vm.get(), oci.get()};
  std::vector<std::unique_ptr<SandboxDriver>> drivers;
  drivers.push_back(std::move(vm));
  drivers.push_back(std::move(oci));
  r.router = std::make_unique<RuntimeRouter>(std::move(drivers));
  r.router->SetEvents(ev);
  EXPECT_TRUE(r.router->Init().ok());
  return r;
}

class RuntimeRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("router-" + std::to_string(::getpid()) + "-" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  NullEvents ev_;
};

TEST_F(RuntimeRouterTest, CreatesGoToTheDriverOfTheirRuntimeAndTheRestFollowsTheSandbox) {
  Routed r = Make(dir_.string(), &ev_);
  EXPECT_EQ(r.router->Name(), "fake+fake");
  EXPECT_EQ(r.router->Runtimes(), (std::vector<std::string>{"kata", "kata-debian", "runc", "crun"}));
  ASSERT_TRUE(r.router->Create(Spec("v1", "kata-debian")));
  ASSERT_TRUE(r.router->Create(Spec("o1", "crun")));
  ASSERT_TRUE(r.router->Create(Spec("d1", "")));  // no runtime: the first driver
  EXPECT_TRUE(r.vm->Inspect("v1"));
  EXPECT_TRUE(r.vm->Inspect("d1"));
  EXPECT_FALSE(r.vm->Inspect("o1"));
  EXPECT_TRUE(r.oci->Inspect("o1"));
  ASSERT_TRUE(r.router->Start("o1").ok());
  EXPECT_EQ(r.oci->Inspect("o1")->state, SandboxState::kRunning);
  EXPECT_EQ(r.router->Inspect("o1")->state, SandboxState::kRunning);
  EXPECT_EQ(r.router->List()->size(), 3u);
  ASSERT_TRUE(r.router->Delete("o1", true).ok());
  EXPECT_FALSE(r.oci->Inspect("o1"));
  EXPECT_EQ(r.router->Inspect("o1").error().code(), Code::kNotFound);  // asked of the first driver
  EXPECT_TRUE(r.router->Delete("nothing", false).ok());
}

TEST_F(RuntimeRouterTest, PodsThatNameNoRuntimeGoToThePodDriver) {
  auto vm = std::make_unique<FakeDriver>();
  auto oci = std::make_unique<FakeDriver>();
  vm->SetRuntimes({"kata"});
  oci->SetRuntimes({"runc"});
  FakeDriver* vm_raw = vm.get();
  FakeDriver* oci_raw = oci.get();
  std::vector<std::unique_ptr<SandboxDriver>> drivers;
  drivers.push_back(std::move(oci));  // the default: containers that name no runtime are trusted
  drivers.push_back(std::move(vm));
  RuntimeRouter router(std::move(drivers), /*pod_driver=*/1);
  router.SetEvents(&ev_);
  ASSERT_TRUE(router.Init().ok());
  SandboxSpec pod = Spec("pod", "");
  pod.argv.clear();
  pod.members.push_back(Spec("m1", ""));
  ASSERT_TRUE(router.Create(pod));
  EXPECT_TRUE(vm_raw->Inspect("pod"));
  EXPECT_FALSE(oci_raw->Inspect("pod"));
  ASSERT_TRUE(router.Create(Spec("plain", "")));
  EXPECT_TRUE(oci_raw->Inspect("plain"));
}

TEST_F(RuntimeRouterTest, AfterARestartSandboxesAreFoundInTheDriverThatListsThem) {
  {
    Routed r = Make(dir_.string(), &ev_);
    ASSERT_TRUE(r.router->Create(Spec("o2", "runc")));
    ASSERT_TRUE(r.router->Create(Spec("v2", "kata")));
  }
  Routed again = Make(dir_.string(), &ev_);
  ASSERT_TRUE(again.router->Start("o2").ok());
  EXPECT_EQ(again.oci->Inspect("o2")->state, SandboxState::kRunning);
  EXPECT_EQ(again.vm->Inspect("v2")->state, SandboxState::kCreated);
  ASSERT_TRUE(again.router->Stop("o2", std::chrono::seconds(5)));
  ASSERT_TRUE(again.router->Delete("o2", false).ok());
  ASSERT_TRUE(again.router->Delete("v2", false).ok());
  EXPECT_TRUE(again.router->List()->empty());
}

}  // namespace
}  // namespace zunvm
