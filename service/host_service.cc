#include "service/host_service.h"

#include <sys/stat.h>

#include "common/ids.h"

namespace zunvm {

Result<HostRecord> HostService::ThisHost() {
  HostRecord h;
  auto uuid = meta_->GetOrCreate("host_uuid", NewUuid());
  if (!uuid) return Err(uuid.error());
  h.uuid = *uuid;
  auto info = ReadHostInfo(cfg_.state_dir, cfg_.HostName());
  if (!info) return Err(info.error());
  h.info = *info;
  auto all = containers_->All();
  if (!all) return Err(all.error());
  for (const auto& c : *all) {
    ++h.total_containers;
    if (c.status == ContainerStatus::kRunning) ++h.running_containers;
    if (c.status == ContainerStatus::kPaused) ++h.paused_containers;
    if (c.status == ContainerStatus::kStopped) ++h.stopped_containers;
    h.cpu_used += c.cpu;
    h.mem_used += c.memory;
    h.disk_used += c.disk.value_or(0);
  }
  h.runtimes = driver_->Runtimes();
  h.labels = {{"driver", driver_->Name()}};
  return h;
}

}  // namespace zunvm
