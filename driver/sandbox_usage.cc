#include "driver/sandbox_usage.h"

namespace zunvm {

void WriteSandboxUsage(metrics::GaugeWriter& w, const std::vector<SandboxUsage>& usage) {
  const metrics::Labels labels{"sandbox"};
  w.Gauge("zunvm_sandbox_memory_rss_bytes",
          "Resident memory of a sandbox on the host: its QEMU process (VM), or its container's processes (runc, crun)",
          labels);
  for (const auto& u : usage) w.Sample({u.uuid}, static_cast<double>(u.rss_bytes));
  w.Gauge("zunvm_sandbox_memory_pss_bytes",
          "Proportional set size of a sandbox's host processes (shared pages split among sharers)", labels);
  for (const auto& u : usage) w.Sample({u.uuid}, static_cast<double>(u.pss_bytes));
  w.Gauge("zunvm_sandbox_cpu_seconds",
          "CPU time (user and system) of a sandbox so far: its QEMU process, or its container's cgroup", labels);
  for (const auto& u : usage) w.Sample({u.uuid}, u.cpu_seconds);
}

}  // namespace zunvm
