// The per-sandbox host usage gauges every driver reports at scrape time (its collector), so
// that VM and runc/crun sandboxes appear in the same families:
//   zunvm_sandbox_memory_rss_bytes, zunvm_sandbox_memory_pss_bytes, zunvm_sandbox_cpu_seconds
// labelled by sandbox (the container's uuid).
//
// What the numbers cover depends on the sandbox: a VM's QEMU process, or a runc/crun
// container's cgroup (its processes' RSS and PSS summed, the cgroup's CPU time).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/metrics.h"

namespace zunvm {

struct SandboxUsage {
  std::string uuid;
  uint64_t rss_bytes = 0;
  uint64_t pss_bytes = 0;
  double cpu_seconds = 0;
};

void WriteSandboxUsage(metrics::GaugeWriter& w, const std::vector<SandboxUsage>& usage);

}  // namespace zunvm
