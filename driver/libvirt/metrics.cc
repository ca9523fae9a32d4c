// LibvirtDriver's gauges (libvirt_driver.h, collector_): each sandbox's QEMU process, found by
// the pid file libvirt keeps for the domain.
#include "driver/libvirt/driver_internal.h"

#include "common/proc_stats.h"

namespace zunvm::libvirt {

namespace {

// libvirt's system instance keeps <domain>.pid here.
constexpr const char* kQemuRunDir = "/run/libvirt/qemu/";

}  // namespace

void LibvirtDriver::CollectMetrics(metrics::GaugeWriter& w) {
  struct Sample {
    std::string uuid;
    ProcMemory mem;
    double cpu = 0;
  };
  std::vector<Sample> samples;
  for (const auto& b : Boxes()) {
    if (!b->pod.empty()) continue;  // a pod's member: its VM is the pod's
    auto pid = ReadPid(kQemuRunDir + b->name() + ".pid");
    if (!pid) continue;
    auto mem = ReadProcMemory(*pid);
    auto cpu = ReadProcCpuSeconds(*pid);
    if (mem && cpu) samples.push_back({b->uuid, *mem, *cpu});
  }
  w.Gauge("zunvm_sandbox_memory_rss_bytes", "Resident memory of a sandbox's QEMU process", {"sandbox"});
  for (const auto& s : samples) w.Sample({s.uuid}, static_cast<double>(s.mem.rss));
  w.Gauge("zunvm_sandbox_memory_pss_bytes",
          "Proportional set size of a sandbox's QEMU process (shared pages split among sharers)", {"sandbox"});
  for (const auto& s : samples) w.Sample({s.uuid}, static_cast<double>(s.mem.pss));
  w.Gauge("zunvm_sandbox_cpu_seconds", "CPU time (user and system) of a sandbox's QEMU process so far", {"sandbox"});
  for (const auto& s : samples) w.Sample({s.uuid}, s.cpu);
}

}  // namespace zunvm::libvirt
