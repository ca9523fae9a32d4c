// A trusted container's root filesystem on the host, made of the disks the VM path uses: the
// image's shared read-only ext4 disk and the container's own writable ext4 disk, which holds
// upper/ and work/ at its root (agent/guest/disks.cc's layout, so a commit, a rebuild or a later
// VM sees the same disk). Under the container's sandbox directory `dir`:
//
//   dir/lower      the image disk on a read-only loop device, mounted ro,noload
//   dir/upperdisk  the container's disk on a read-write loop device, mounted rw
//   dir/rootfs     overlay lowerdir=dir/lower,upperdir=dir/upperdisk/upper,
//                  workdir=dir/upperdisk/work (index, metacopy and redirect_dir off, so
//                  the upper stays readable by a guest kernel with overlayfs' defaults)
//
// All three are nodev and private (MS_PRIVATE).
//
// Loop devices by ioctl, mounts by mount(2), not util-linux's `mount -o loop`: LOOP_CONFIGURE
// binds the file with LO_FLAGS_AUTOCLEAR in one call, so a loop device is never bound without
// autoclear, even for a moment. If zunvmd is SIGKILLed after that and before the mount, its fd
// closes as it dies and the kernel detaches the device. Once mounted, the mount holds the
// device and the last unmount releases it. So a loop device never outlives its mount, whatever
// step is killed. mount(8) gives that only where util-linux uses LOOP_CONFIGURE, a killed zunvmd
// would leave it running on its own, and we could not see which device it took. Needs Linux 5.8
// or later.
//
// Crash recovery: MountRootfs mounts lower, then upperdisk, then rootfs, so a zunvmd killed
// during it leaves a prefix of the three (InspectRootfs). Both MountRootfs and UnmountRootfs are
// idempotent and finish from any prefix.
//
// Propagation: a mount takes its propagation from the mount it is attached under, so making a
// new mount private afterwards does not undo copies already sent to peers of a shared parent,
// and its unmount would no longer reach them (they would hold the loop devices for ever).
// MountRootfs therefore refuses a `dir` whose mount is shared: zunvmd makes the root of its
// sandboxes private once at start with MakePrivateMountRoot (systemd makes "/" shared).
//
// Paths: absolute, no "." or ".." component, no control characters; `dir` also has no ',',
// ':', '\\' or space (overlay options, mountinfo). Symlinks in them are resolved. `dir` exists
// (the caller makes it, 0711); the mount points are created in it with mode 0711.
//
// Threads: calls for different `dir`s may run concurrently. Calls for one `dir` are the
// caller's to serialize (zunvmd runs one task at a time per container). CleanupStaleLoops may
// run concurrently with anything, because the kernel detaches only a loop device nobody holds.
// Needs root (CAP_SYS_ADMIN) in the initial user namespace.
//
// Errors: InvalidArgument (a path), NotFound (dir or a disk missing), Conflict (a mount point
// holds something other than what was asked, the upper disk is on another loop device already,
// or an unmount is busy; the message names the path), Internal (a failed system call, or a
// shared mount holding `dir`; the message gives errno's text).
#pragma once

#include <string>

#include "common/status.h"

namespace zunvm::oci {

// Makes `root` (an existing directory) a private mount: a bind mount of itself when it is not
// a mount point yet, then MS_PRIVATE|MS_REC. Idempotent, and safe to run again after a kill
// part-way. The bind mount is meant to stay while the host runs. InvalidArgument when `root`
// is not a mount point but has mounts under it (a bind over them would hide them).
Status MakePrivateMountRoot(const std::string& root);

// Mounts what is missing of lower, upperdisk (then makes upper/ and work/ on it if they are
// missing) and rootfs, in that order. What is already mounted is kept if it is right (lower and
// upperdisk from loop devices backed by `image_disk` and `upper_disk`, rootfs an overlay with
// this upper, each made private again). Otherwise the call fails with Conflict. It also fails
// with Conflict when `upper_disk` is already on a loop device that is not this dir's (ext4
// mounted read-write twice is corruption; this is a check, not a lock). On an error, the mounts
// this call made are undone and the ones it found are left: a SIGKILL leaves a prefix, an error
// no more than there was before.
Status MountRootfs(const std::string& dir, const std::string& image_disk, const std::string& upper_disk);

// Unmounts rootfs, upperdisk and lower, in that order, skipping what is not mounted, then
// removes the three mount points if they are empty. After Ok, dir can be removed with rmdir(2)
// (never recursively before Ok: that would delete through the mounts). Each loop device goes
// with its mount (autoclear), once no other mount namespace still holds the filesystem (a
// container's, until its processes are gone). A busy mount is Conflict naming it, and lower
// mounts are then left: no lazy unmount hides a leak. Idempotent; a missing dir is Ok.
Status UnmountRootfs(const std::string& dir);

// A volume of a trusted container: `disk` (a disk image file, put on a loop device with
// autoclear as above, or a host block device when `block`) mounted at dir/volumes/<name>,
// nodev, read-only when asked, private; the runtime binds it into the container. A mount already
// there is kept (idempotent, e.g. after a zunvmd restart). A writable disk file already on a
// loop device elsewhere is Conflict (two writers corrupt ext4). `name` is 1-64 of
// [A-Za-z0-9._-]; `fstype` ext4, xfs or btrfs. Errors as MountRootfs.
Status MountVolume(const std::string& dir, const std::string& name, const std::string& disk, bool block,
                   const std::string& fstype, bool read_only);

// Unmounts every dir/volumes/<name> and removes the mount points (never lazily: a busy one is
// Conflict). Idempotent; a missing dir is Ok.
Status UnmountVolumes(const std::string& dir);

// Which of the three are mounted, from /proc/self/mountinfo. After a crash in MountRootfs this
// is a prefix (lower, then upper, then rootfs); recovery calls UnmountRootfs or MountRootfs.
struct RootfsState {
  bool lower = false, upper = false, rootfs = false;
  bool any() const { return lower || upper || rootfs; }
  bool all() const { return lower && upper && rootfs; }
};
RootfsState InspectRootfs(const std::string& dir);

// Detaches every loop device whose backing file is under `state_root` and that no mount in
// this namespace uses (from /sys/block/loop*/loop/backing_file and /proc/self/mountinfo). This
// is a belt for loop devices bound without autoclear (by hand, or by an older zunvmd). A device
// that is still open anywhere (a mount in another namespace, a concurrent MountRootfs between
// its LOOP_CONFIGURE and its mount) is not torn away: the kernel marks it autoclear and
// detaches it on its last close. Errors: InvalidArgument (the path), Internal (a device could
// not be opened or detached; the others are still tried).
Status CleanupStaleLoops(const std::string& state_root);

}  // namespace zunvm::oci
