// Chooses the SandboxDriver named by [DEFAULT] container_driver: the one place that knows the
// implementations the product ships (libvirt). Test builds pass their own factory (with the
// fake driver of tests/fakes/) to the Daemon and ZunvmdMain.
#pragma once

#include <functional>
#include <memory>

#include "common/config.h"
#include "driver/driver.h"
#include "driver/libvirt/libvirt_driver.h"

namespace zunvm {

// Makes the driver named by cfg.container_driver; InvalidArgument naming the option and the
// available drivers for another name. The driver is not started: call SetEvents, then Init.
using DriverFactory = std::function<Result<std::unique_ptr<SandboxDriver>>(const Config&)>;
Result<std::unique_ptr<SandboxDriver>> MakeDriver(const Config& cfg);
// The guest profile of a vm runtime (its files found, its PCI devices present), or
// InvalidArgument saying why this host cannot run it.
Result<libvirt::GuestProfile> ResolveVmRuntime(const Config& cfg, const RuntimeProfile& p);
// Where the guest image (vmlinux, initramfs.cpio) is looked for when [guest] does not say.
std::string DefaultGuestDir();

}  // namespace zunvm
