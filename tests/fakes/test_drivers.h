// The driver factory of test builds: the product's drivers plus `fake` (tests/fakes/
// fake_driver.h, sandboxes kept in <state_dir>/fake-driver.json).
#pragma once

#include "app/driver_factory.h"

namespace zunvm {

Result<std::unique_ptr<SandboxDriver>> MakeTestDriver(const Config& cfg);

}  // namespace zunvm
