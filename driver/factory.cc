#include "driver/factory.h"

#include "driver/fake/fake_driver.h"

namespace zunvm {

Result<std::unique_ptr<SandboxDriver>> MakeDriver(const Config& cfg) {
  if (cfg.container_driver == "fake") {
    return std::unique_ptr<SandboxDriver>(
        std::make_unique<FakeDriver>(cfg.state_dir + "/fake-driver.json"));
  }
  return Err(Status::Invalid("[DEFAULT] container_driver = " + cfg.container_driver +
                             " is not available in this build (available: fake)"));
}

}  // namespace zunvm
