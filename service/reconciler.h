// Reconciler: brings the records in line with the driver's sandboxes, once at start-up
// (Recover: what a crash left half-done) and periodically (SyncAll). See docs/architecture.md
// for what each leftover becomes.
//
// Thread safety: thread-safe; the work it finds is queued under each container's key.
#pragma once

#include <set>

#include "common/serial_executor.h"
#include "driver/driver.h"
#include "service/container_lifecycle.h"
#include "service/container_records.h"

namespace zunvm {

class ImageService;
class VolumeService;

class Reconciler {
 public:
  // Nothing owned; `images` and `volumes` may be null.
  Reconciler(ContainerRecords* records, ContainerLifecycle* lifecycle, SandboxDriver* driver,
             SerialExecutor* executor, ImageService* images, VolumeService* volumes)
      : records_(records), lifecycle_(lifecycle), driver_(driver), executor_(executor), images_(images),
        volumes_(volumes) {}

  // Removes sandboxes without a record, finishes interrupted deletes, fails interrupted
  // creates, releases volumes of containers without a record, settles interrupted operations to what the sandbox says, settles the rest, and
  // publishes the ports of what runs on.
  Status Recover(const std::set<std::string>& capsules);
  // Queues Settle for every container.
  void SyncAll();

 private:
  // An operation was interrupted by a restart: the record takes the sandbox's state.
  void SettleInterrupted(const std::string& uuid);

  ContainerRecords* records_;
  ContainerLifecycle* lifecycle_;
  SandboxDriver* driver_;
  SerialExecutor* executor_;
  ImageService* images_;
  VolumeService* volumes_;
};

}  // namespace zunvm
