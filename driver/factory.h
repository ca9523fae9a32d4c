// Chooses the SandboxDriver named by [DEFAULT] container_driver. The only place that knows the
// implementations.
#pragma once

#include <memory>

#include "common/config.h"
#include "driver/driver.h"

namespace zunvm {

// The driver is not started: call SetEvents, then Init.
Result<std::unique_ptr<SandboxDriver>> MakeDriver(const Config& cfg);
// Where the guest image (vmlinux, initramfs.cpio) is looked for when [guest] does not say.
std::string DefaultGuestDir();

}  // namespace zunvm
