// LibvirtDriver's gauges (libvirt_driver.h, collector_): each sandbox's QEMU process, found by
// the pid file libvirt keeps for the domain.
#include "driver/libvirt/driver_internal.h"

#include "common/proc_stats.h"
#include "driver/sandbox_usage.h"

namespace zunvm::libvirt {

namespace {

// libvirt's system instance keeps <domain>.pid here.
constexpr const char* kQemuRunDir = "/run/libvirt/qemu/";

}  // namespace

void LibvirtDriver::CollectMetrics(metrics::GaugeWriter& w) {
  std::vector<SandboxUsage> usage;
  for (const auto& b : Boxes()) {
    if (!b->pod.empty()) continue;  // a pod's member: its VM is the pod's
    auto pid = ReadPid(kQemuRunDir + b->name() + ".pid");
    if (!pid) continue;
    auto mem = ReadProcMemory(*pid);
    auto cpu = ReadProcCpuSeconds(*pid);
    if (mem && cpu) usage.push_back({b->uuid, mem->rss, mem->pss, *cpu});
  }
  WriteSandboxUsage(w, usage);
}

}  // namespace zunvm::libvirt
