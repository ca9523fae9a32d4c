#include "app/driver_factory.h"

#include <unistd.h>

#include <filesystem>

#include "common/logging.h"
#include "common/strings.h"
#include "driver/libvirt/libvirt_driver.h"
#include "driver/libvirt/libvirt_hypervisor.h"
#include "driver/oci/oci_driver.h"
#include "driver/runtime_router.h"
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

namespace {

// A runtime's guest file: [guest]'s (or the built-in image) when the profile names none, a
// relative path under the directory the guest images are installed in.
std::string GuestFile(const std::string& configured, const std::string& guest_default, const std::string& file) {
  if (configured.empty()) return guest_default.empty() ? DefaultGuestDir() + "/" + file : guest_default;
  if (configured[0] == '/') return configured;
  return std::filesystem::path(DefaultGuestDir()).parent_path().string() + "/" + configured;
}

}  // namespace

Result<libvirt::GuestProfile> ResolveVmRuntime(const Config& cfg, const RuntimeProfile& p) {
  libvirt::GuestProfile g;
  g.kernel = GuestFile(p.kernel, cfg.guest_kernel, "vmlinux");
  g.initrd = GuestFile(p.initrd, cfg.guest_initrd, "initramfs.cpio");
  g.cmdline = libvirt::kDefaultGuestCmdline;
  for (const std::string* extra : {&cfg.guest_cmdline_extra, &p.kernel_params}) {
    if (!extra->empty()) g.cmdline += " " + *extra;
  }
  g.machine = p.machine;
  g.virt_type = p.virt_type.empty() ? cfg.virt_type : p.virt_type;
  g.hostdevs = p.hostdev;
  for (const std::string& f : {g.kernel, g.initrd}) {
    if (::access(f.c_str(), R_OK) != 0) {
      return Err(Status::Invalid("its guest image file " + f + " is missing (build it with guest/build-image.sh)"));
    }
  }
  for (const auto& dev : g.hostdevs) {
    std::error_code ec;
    if (!std::filesystem::exists("/sys/bus/pci/devices/" + dev, ec)) {
      return Err(Status::Invalid("its PCI device " + dev + " (hostdev) is not on this host"));
    }
  }
  return g;
}

namespace {

// An oci runtime's programs, or why this host cannot run it.
Result<oci::OciRuntime> ResolveOciRuntime(const RuntimeProfile& p) {
  oci::OciRuntime rt;
  rt.binary = p.binary.empty() ? rt.binary : p.binary;
  rt.monitor = p.monitor.empty() ? rt.monitor : p.monitor;
  for (const std::string& f : {rt.binary, rt.monitor}) {
    if (::access(f.c_str(), X_OK) != 0) {
      return Err(Status::Invalid("its program " + f + " is missing (Debian: apt-get install runc crun conmon)"));
    }
  }
  return rt;
}

}  // namespace

Result<std::unique_ptr<SandboxDriver>> MakeDriver(const Config& cfg) {
  if (cfg.container_driver == "libvirt") {
    libvirt::LibvirtDriverOptions o;
    oci::OciDriverOptions oo;
    o.state_dir = oo.state_dir = cfg.state_dir;
    oo.nat = cfg.network_nat;
    o.virt_type = cfg.virt_type;
    o.default_runtime = cfg.default_runtime;
    for (const std::string& name : cfg.runtimes) {
      const RuntimeProfile* p = cfg.FindRuntime(name);
      if (p == nullptr) continue;  // ValidateConfig refuses that
      if (p->type != RuntimeType::kVm) {
        auto rt = ResolveOciRuntime(*p);
        if (!rt) {
          o.unavailable[name] = rt.error().message();
          Logger("driver")->warn("runtime {} is not available: {}", name, rt.error().message());
          continue;
        }
        Logger("driver")->info("runtime {}: {} under {}", name, rt->binary, rt->monitor);
        oo.runtimes[name] = *rt;
        continue;
      }
      auto g = ResolveVmRuntime(cfg, *p);
      if (!g) {
        o.unavailable[name] = g.error().message();
        Logger("driver")->warn("runtime {} is not available: {}", name, g.error().message());
        continue;
      }
      Logger("driver")->info("runtime {}: {} domains, machine {}, guest kernel {}, initrd {}{}", name, g->virt_type,
                             g->machine, g->kernel, g->initrd,
                             g->hostdevs.empty() ? "" : ", PCI devices " + Join(g->hostdevs, ","));
      o.runtimes[name] = *g;
    }
    const bool default_oci = oo.runtimes.count(cfg.default_runtime) > 0;
    if (!o.runtimes.count(cfg.default_runtime) && !default_oci) {
      return Err(Status::Invalid("the default runtime " + cfg.default_runtime + " cannot run on this host: " +
                                 o.unavailable[cfg.default_runtime] + " (see [DEFAULT] default_runtime)"));
    }
    // The VM driver's default (capsules, its pool) is the default runtime, or its first VM one.
    if (default_oci) {
      o.default_runtime = o.runtimes.empty() ? "" : o.runtimes.begin()->first;
      o.pool_size = 0;  // containers that name no runtime are not VMs
    }
    if (!o.default_runtime.empty()) {
      o.kernel = o.runtimes[o.default_runtime].kernel;
      o.initrd = o.runtimes[o.default_runtime].initrd;
    }
    o.boot_timeout = std::chrono::seconds(cfg.guest_boot_timeout);
    o.nat = cfg.network_nat;
    o.cpu_overhead = cfg.cpu_overhead;
    o.tb_cache_mib = cfg.tb_cache_mib;
    if (!default_oci) o.pool_size = cfg.pool_size;
    o.pool_use_templates = cfg.pool_use_templates;
    o.pool_template_dir = cfg.pool_template_dir;
    // The pool's VMs are the default container's: the default runtime's sizes when it has them.
    const RuntimeProfile* def = cfg.FindRuntime(cfg.default_runtime);
    o.pool_cpu = def->vcpus > 0 ? def->vcpus : cfg.default_cpu;
    o.pool_memory_mib = def->memory_mib > 0 ? def->memory_mib : cfg.default_memory;
    auto vm = std::make_unique<libvirt::LibvirtDriver>(o, std::make_unique<libvirt::LibvirtHypervisor>(cfg.libvirt_uri),
                                                       std::make_unique<IpHostNetwork>());
    if (oo.runtimes.empty()) return std::unique_ptr<SandboxDriver>(std::move(vm));
    std::vector<std::unique_ptr<SandboxDriver>> drivers;
    drivers.push_back(std::move(vm));
    drivers.push_back(std::make_unique<oci::OciDriver>(oo, std::make_unique<IpHostNetwork>()));
    // The first driver serves containers that name no runtime; capsules always run in VMs.
    if (default_oci) std::swap(drivers[0], drivers[1]);
    return std::unique_ptr<SandboxDriver>(std::make_unique<RuntimeRouter>(std::move(drivers), default_oci ? 1 : 0));
  }
  return Err(Status::Invalid("[DEFAULT] container_driver = " + cfg.container_driver +
                             " is not available (available: libvirt)"));
}

}  // namespace zunvm
