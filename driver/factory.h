// Chooses the SandboxDriver named by [DEFAULT] container_driver. The only place that knows the
// implementations.
#pragma once

#include <memory>

#include "common/config.h"
#include "driver/driver.h"

namespace zunvm {

Result<std::unique_ptr<SandboxDriver>> MakeDriver(const Config& cfg);

}  // namespace zunvm
