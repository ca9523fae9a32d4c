// PID 1 duties of zunvm-agent inside the VM: mount the pseudo filesystems, load the kernel
// modules listed in /lib/modules/modules.order (dependency order, deepest first), find the
// agent's virtio-serial port by name, and power the VM off. Messages go to the console.
#pragma once

#include <string>

#include "common/status.h"

namespace zunvm::agent {

// Re-roots PID 1 on a bind mount of the initramfs so containers can pivot_root. First thing.
Status LeaveInitramfsRoot();
Status MountPseudoFilesystems();
// Loads each module with finit_module(2); already-loaded modules are fine.
Status LoadModules(const std::string& dir);
// Polls /sys/class/virtio-ports/*/name for `name` until the deadline; opens the /dev node
// O_RDWR and returns its fd.
Result<int> OpenPort(const std::string& name, int timeout_ms);
void ConsoleLog(const std::string& msg);
[[noreturn]] void PowerOff();

}  // namespace zunvm::agent
