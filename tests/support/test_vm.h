// Test and bench helper: boots the built guest image as a transient libvirt domain (type qemu:
// TCG, as these machines need) with the agent channel on a unix socket in a private temp dir,
// optionally with the busybox test disk (serial "rootfs", read-only) and a blank writable disk
// (serial "upper"). The domain is destroyed and the dir removed by the destructor.
// Not thread-safe; one object per VM. Errors come back as Status with virsh's own message.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "driver/libvirt/domain_xml.h"
#include "driver/libvirt/libvirt_driver.h"

namespace zunvm::testvm {

struct TestVmOptions {
  std::string guest_dir;            // vmlinux, initramfs.cpio, test-rootfs.ext4
  std::string initramfs;            // default <guest_dir>/initramfs.cpio
  bool disks = true;                // attach the test rootfs and a blank upper disk
  int memory_mib = 384;
  std::string cmdline;              // default: kDefaultCmdline
  std::vector<libvirt::NicConfig> nics;  // virtio NICs (taps the test made)
};

// The guest command line zunvmd boots with (driver/libvirt).
inline const char* const kDefaultCmdline = libvirt::kDefaultGuestCmdline;

class TestVm {
 public:
  TestVm() = default;
  TestVm(const TestVm&) = delete;
  TestVm& operator=(const TestVm&) = delete;
  ~TestVm();
  // Defines and starts the domain (returns once qemu runs, not when the guest is up).
  Status Boot(const TestVmOptions& opts);
  Status Destroy();
  const std::string& socket_path() const { return socket_; }
  std::string Console() const;  // the guest console so far (for failure messages)
  const std::string& name() const { return name_; }

 private:
  std::string work_, name_, socket_;
};

// The guest image directory: $ZUNVM_GUEST_DIR, else `fallback`.
std::string GuestDir(const std::string& fallback);
// Runs a shell command; returns its exit status and puts stdout+stderr in *out.
int Shell(const std::string& cmd, std::string* out = nullptr);

}  // namespace zunvm::testvm
