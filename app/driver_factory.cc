#include "app/driver_factory.h"

#include <unistd.h>

#include <filesystem>

#include "common/logging.h"
#include "driver/libvirt/libvirt_driver.h"
#include "driver/libvirt/libvirt_hypervisor.h"
#include "network/host_network.h"

#ifndef ZUNVM_DEFAULT_GUEST_DIR
#define ZUNVM_DEFAULT_GUEST_DIR "/usr/share/zunvm/guest"
#endif

namespace zunvm {

// An installed zunvmd (<prefix>/bin/zunvmd) uses <prefix>/share/zunvm/guest when it holds the
// image; a zunvmd in the build tree uses the image built there (the compiled default).
std::string DefaultGuestDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto installed = exe.parent_path().parent_path() / "share" / "zunvm" / "guest";
    if (std::filesystem::exists(installed / "vmlinux", ec)) return installed.string();
  }
  return ZUNVM_DEFAULT_GUEST_DIR;
}

Result<std::unique_ptr<SandboxDriver>> MakeDriver(const Config& cfg) {
  if (cfg.container_driver == "libvirt") {
    libvirt::LibvirtDriverOptions o;
    o.state_dir = cfg.state_dir;
    o.virt_type = cfg.virt_type;
    o.kernel = cfg.guest_kernel.empty() ? DefaultGuestDir() + "/vmlinux" : cfg.guest_kernel;
    o.initrd = cfg.guest_initrd.empty() ? DefaultGuestDir() + "/initramfs.cpio" : cfg.guest_initrd;
    o.boot_timeout = std::chrono::seconds(cfg.guest_boot_timeout);
    if (!cfg.guest_cmdline_extra.empty()) {
      o.cmdline = std::string(libvirt::kDefaultGuestCmdline) + " " + cfg.guest_cmdline_extra;
    }
    o.nat = cfg.network_nat;
    o.cpu_overhead = cfg.cpu_overhead;
    o.tb_cache_mib = cfg.tb_cache_mib;
    o.pool_size = cfg.pool_size;
    o.pool_use_templates = cfg.pool_use_templates;
    o.pool_template_dir = cfg.pool_template_dir;
    o.pool_cpu = cfg.default_cpu;
    o.pool_memory_mib = cfg.default_memory;
    for (const std::string& f : {o.kernel, o.initrd}) {
      if (::access(f.c_str(), R_OK) != 0) {
        return Err(Status::Invalid("the guest image file " + f +
                                   " is missing: build it with guest/build-image.sh or set [guest] kernel/initrd"));
      }
    }
    Logger("driver")->info("libvirt driver: {} domains, guest kernel {}, initrd {}", o.virt_type, o.kernel,
                           o.initrd);
    return std::unique_ptr<SandboxDriver>(std::make_unique<libvirt::LibvirtDriver>(
        o, std::make_unique<libvirt::LibvirtHypervisor>(cfg.libvirt_uri), std::make_unique<IpHostNetwork>()));
  }
  return Err(Status::Invalid("[DEFAULT] container_driver = " + cfg.container_driver +
                             " is not available (available: libvirt)"));
}

}  // namespace zunvm
