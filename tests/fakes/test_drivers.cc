#include "tests/fakes/test_drivers.h"

#include "tests/fakes/fake_driver.h"

namespace zunvm {

Result<std::unique_ptr<SandboxDriver>> MakeTestDriver(const Config& cfg) {
  if (cfg.container_driver == "fake") {
    return std::unique_ptr<SandboxDriver>(std::make_unique<FakeDriver>(cfg.state_dir + "/fake-driver.json"));
  }
  return MakeDriver(cfg);
}

}  // namespace zunvm
