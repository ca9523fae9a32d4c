// Container root filesystems on block devices the host attached to the VM (virtio-blk, found
// by the serial the host gave the disk): a single disk mounted as the root, or a read-only
// image disk joined with a writable disk by overlayfs (lower = image, upper + work on the
// writable disk, so the container's changes survive a VM restart).
//
// Layout: /run/zunvm/containers/<id>/{lower,upperdisk,rootfs}. Thread safety: none (the agent
// is single-threaded). Errors: InvalidArgument for a bad body, NotFound when no disk has the
// serial, Internal for a failed mount (with errno text).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/protocol/ops.h"
#include "common/status.h"

namespace zunvm::agent {

// Where disks are found: `sys_block`/vd*/serial names them, `dev`/vd* is the device. The
// guest's are /sys/block and /dev; the host-side tests point them at loop devices.
struct DiskRoots {
  std::string sys_block = "/sys/block";
  std::string dev = "/dev";
};

// The root on `lower` alone, or `lower` (read-only) under an overlay whose upper and work
// directories are on `upper`. Returns the directory to use as the container's rootfs.
Result<std::string> MountContainerDisks(const std::string& id, const op::DiskRef& lower,
                                        const std::optional<op::DiskRef>& upper, const DiskRoots& roots = {});
// Unmounts whatever MountContainerDisks mounted for `id` (lazily: nothing may hold it now).
void UnmountContainerDisks(const std::string& id);
// Mounts the volume disks of `volumes` at /run/zunvm/volumes/<serial> (read-only when the
// disk says so; a disk already mounted there, by an earlier create in this VM, is left as it
// is). Returns the mount directory of each, in order. Waits for hot-plugged disks as above.
Result<std::vector<std::string>> MountVolumeDisks(const std::vector<op::VolumeMount>& volumes,
                                                  const DiskRoots& roots = {});
// The /dev path of the virtio-blk disk whose serial is `serial`.
Result<std::string> FindDiskBySerial(const std::string& serial, const DiskRoots& roots = {});

}  // namespace zunvm::agent
