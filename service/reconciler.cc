#include "service/reconciler.h"

#include <algorithm>
#include <set>

#include "common/logging.h"
#include "service/image_service.h"
#include "service/volume_service.h"

namespace zunvm {

void Reconciler::SyncAll() {
  auto all = records_->All();
  if (!all) return;
  for (const auto& c : *all) {
    executor_->Post(c.uuid, [this, uuid = c.uuid] { lifecycle_->Settle(uuid); });
  }
}

Status Reconciler::Recover(const std::set<std::string>& capsules) {
  auto all = records_->All();
  if (!all) return all.error();
  auto sandboxes = driver_->List();
  if (!sandboxes) return sandboxes.error();
  // Sandboxes of ours without a record leak resources: remove them.
  for (const auto& s : *sandboxes) {
    bool known = capsules.count(s.uuid) ||
                 std::any_of(all->begin(), all->end(), [&](const Container& c) { return c.uuid == s.uuid; });
    if (!known) {
      Logger("service")->info("removing sandbox {} that has no record", s.uuid);
      (void)driver_->Delete(s.uuid, true);
      if (images_) images_->RemoveContainerDisk(s.uuid);
    }
  }
  if (volumes_) {
    std::set<std::string> uuids;
    for (const auto& c : *all) uuids.insert(c.uuid);
    uuids.insert(capsules.begin(), capsules.end());  // a capsule's volumes are attached to it
    volumes_->Recover(uuids);
  }
  for (const auto& c : *all) {
    std::string uuid = c.uuid;
    if (c.status == ContainerStatus::kDeleting) {
      executor_->Post(uuid, [this, uuid] { (void)lifecycle_->Delete(uuid, true, false); });
    } else if (c.status == ContainerStatus::kCreating) {
      executor_->Post(uuid, [this, uuid] {
        (void)driver_->Delete(uuid, true);
        (void)records_->Mutate(uuid, [](Container& rec) -> Status {
          rec.container_id.reset();
          return Status::Ok();
        });
        lifecycle_->Fail(uuid, Status::Internal("zunvmd restarted while the container was being created"));
      });
    } else if (c.task_state || c.status == ContainerStatus::kRestarting || c.status == ContainerStatus::kRebuilding) {
      executor_->Post(uuid, [this, uuid] { SettleInterrupted(uuid); });
    } else {
      executor_->Post(uuid, [this, uuid] { lifecycle_->Settle(uuid); });
    }
  }
  // Containers that run on (their VMs were adopted) are published again.
  for (const auto& c : *all) executor_->Post(c.uuid, [this, uuid = c.uuid] { records_->SyncPorts(uuid); });
  return Status::Ok();
}

void Reconciler::SettleInterrupted(const std::string& uuid) {
  auto info = driver_->Inspect(uuid);
  (void)records_->Mutate(uuid, [&](Container& rec) -> Status {
    rec.task_state.reset();
    if (!info) {
      rec.status = ContainerStatus::kError;
      rec.status_reason = "zunvmd restarted during an operation and the sandbox is gone";
      rec.container_id.reset();
    } else if (info->state == SandboxState::kRunning) {
      rec.status = ContainerStatus::kRunning;
    } else if (info->state == SandboxState::kPaused) {
      rec.status = ContainerStatus::kPaused;
    } else if (info->state == SandboxState::kStopped) {
      rec.status = ContainerStatus::kStopped;
      rec.exit_code = info->exit_code;
    } else {
      rec.status = ContainerStatus::kCreated;
    }
    return Status::Ok();
  });
}

}  // namespace zunvm
