// Whether KVM can actually run a guest here: opens the device, creates a VM with one vCPU and
// runs a single `hlt` instruction in it (in a child process, killed when it does not return
// within `timeout`: nested KVM that hangs is reported as such). Ok when the vCPU halts;
// Unavailable with the step that failed otherwise. Thread safety: any thread; forks.
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"

namespace zunvm::libvirt {

Status ProbeKvm(const std::string& device = "/dev/kvm",
                std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

}  // namespace zunvm::libvirt
