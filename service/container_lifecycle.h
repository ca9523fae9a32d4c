// ContainerLifecycle: the worker side of the container state machine. Each step runs on the
// SerialExecutor under the container's uuid (one at a time per container, in order) and leaves
// the record truthful: create (with start when asked), start, stop, reboot, pause/unpause,
// kill, rebuild, delete and resize; an exit with the restart policy and auto_remove; a lost
// sandbox; and Settle, which brings a settled record in line with its sandbox.
//
// One sequence makes a sandbox from a record (MakeSandbox: image pulled when the policy says,
// NICs, driver Create, the record's container_id): create, a start after a failed create and
// rebuild all use it. Steps that fail mark the record Error with the reason (Fail).
// Restart back-off runs on the injected Clock.
//
// Thread safety: the steps are called from the executor only (or, for Settle and Delete, from
// code already running under the container's key); Queue and the events are thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "common/serial_executor.h"
#include "driver/driver.h"
#include "service/container_networking.h"
#include "service/container_records.h"
#include "service/log_store.h"

namespace zunvm {

class ImageService;
class VolumeService;

struct ContainerPatch {
  std::optional<double> cpu;
  std::optional<int64_t> memory;
  std::optional<std::string> name;
  std::optional<bool> auto_heal;
};

class ContainerLifecycle {
 public:
  struct Deps {
    const Config* cfg;
    ContainerRecords* records;
    ContainerNetworking* networking;
    LogStore* logs;
    SandboxDriver* driver;
    SerialExecutor* executor;
    Clock* clock;
    ImageService* images;  // may be null: no image defaults, pulls or disks
    VolumeService* volumes;  // may be null: no mounts
  };
  explicit ContainerLifecycle(Deps d) : d_(d) {}

  // `fn(uuid)` runs (on the container's key) whenever a container settles after its process
  // ended: Stopped with no restart to come, or Error when a policy restart failed. Set once,
  // before any container runs (the capsules' init containers use it).
  void SetExitObserver(std::function<void(const std::string&)> fn) { exit_observer_ = std::move(fn); }

  // Queues `step` under the container's key; its outcome finishes the action `action_id`.
  void Queue(const std::string& uuid, int64_t action_id, std::function<Status()> step);

  Status Create(const std::string& uuid, bool run);
  Status Start(const std::string& uuid);
  Status Stop(const std::string& uuid, int timeout);
  Status Reboot(const std::string& uuid, int timeout);
  Status Pause(const std::string& uuid, bool pause);
  Status Kill(const std::string& uuid, int signal);
  Status Rebuild(const std::string& uuid, const std::optional<std::string>& image);
  Status Delete(const std::string& uuid, bool force, bool stop);
  Status Resize(const std::string& uuid, const ContainerPatch& patch);
  // Records an exit and applies the restart policy and auto_remove. `manual` is a stop by the
  // user (stop, or an exit after kill), which never triggers a policy restart.
  void Exited(const std::string& uuid, int exit_code, bool manual);
  // Brings one settled record in line with its sandbox: lost exits, a vanished sandbox.
  void Settle(const std::string& uuid);
  // Marks the record Error with `st`'s message and clears task_state.
  void Fail(const std::string& uuid, const Status& st);

  // The driver's spec for the record as it stands (no image disks, no NICs).
  SandboxSpec SpecFor(const Container& c) const;
  // The spec for a create: for drivers that UsesImages(), the image is pulled first when the
  // pull policy says so (task_state image_pulling), a freshly pulled image's defaults are
  // applied to the record, and its root disk goes in the spec; then the NICs and volumes.
  // `fresh`: the image was just pulled for another container of the same create (a capsule's
  // members), so `always` does not pull it again.
  Result<SandboxSpec> PrepareSpec(const std::string& uuid, bool fresh = false);
  // What status_reason says after a cpu/memory change: applied live or at the next start.
  static std::string LimitsNote(bool live);

 private:
  // Create without its metrics: makes the sandbox, then starts it when `run`.
  Status CreateSteps(const std::string& uuid, bool run);
  // The one way a sandbox is made from the record; sets container_id (and hostname).
  Result<SandboxInfo> MakeSandbox(const std::string& uuid);
  // Sets task_state (clears it when nullopt).
  Status SetTask(const std::string& uuid, std::optional<TaskState> task);
  // Fail(uuid, st) when `st` is an error; returns `st`.
  Status OrFail(const std::string& uuid, Status st);
  Status RebootSteps(const std::string& uuid, int timeout);
  void PolicyRestart(const std::string& uuid);

  Deps d_;
  std::function<void(const std::string&)> exit_observer_;
};

}  // namespace zunvm
