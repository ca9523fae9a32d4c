#include "tests/fakes/test_drivers.h"

#include <cstdlib>
#include <string>

#include "tests/fakes/fake_driver.h"

namespace zunvm {

Result<std::unique_ptr<SandboxDriver>> MakeTestDriver(const Config& cfg) {
  if (cfg.container_driver == "fake") {
    // ZUNVM_FAKE_DRIVER_MEMORY_ONLY=1 (bench/api_bench.sh): the fake keeps its sandboxes in
    // memory only. It saves every sandbox on every change, which a bench of thousands of
    // creates would otherwise measure instead of zunvmd.
    const char* memory_only = std::getenv("ZUNVM_FAKE_DRIVER_MEMORY_ONLY");
    const bool persist = memory_only == nullptr || std::string(memory_only) != "1";
    return std::unique_ptr<SandboxDriver>(std::make_unique<FakeDriver>(persist ? cfg.state_dir + "/fake-driver.json" : ""));
  }
  return MakeDriver(cfg);
}

}  // namespace zunvm
