// Sparse ext4 disk images for VMs: the containers' writable disks and zunvmd's volumes.
// Thread safety: thread-safe (no shared state; distinct paths).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace zunvm {

// Makes `path` (absent) a sparse ext4 image of `gib` GiB labelled `label`, through `path`.tmp
// and a rename, so a crash never leaves a half-made disk under the final name. Mode 0600:
// libvirt hands it to the qemu user while a VM uses it. Internal with mkfs.ext4's output.
Status MakeSparseExt4(const std::string& path, int64_t gib, const std::string& label);

}  // namespace zunvm
