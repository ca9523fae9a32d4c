// ContainerService: the container state machine (Zun's status + task_state), the one place
// where API requests become durable records and queued driver work.
//
// Every entry point validates against the allowed-state table, writes the new intent to
// SQLite (status/task_state/action history) before returning, and queues the driver work on
// the SerialExecutor under the container's uuid, so operations on one container run one at a
// time and in order while HTTP threads never wait on a sandbox. Exec, top, stats, archives and
// updates of cpu/memory are synchronous driver calls made on the caller's (API worker) thread.
//
// Thread safety: all public methods are thread-safe. `mu_` guards read-modify-write of
// records and is never held across a driver call.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "db/action_store.h"
#include "db/container_store.h"
#include "driver/driver.h"
#include "model/action.h"
#include "model/container.h"
#include "model/list_query.h"
#include "model/request_context.h"
#include "model/results.h"
#include "service/log_store.h"
#include "common/serial_executor.h"
#include "service/state_table.h"

namespace zunvm {

struct ContainerPatch {
  std::optional<double> cpu;
  std::optional<int64_t> memory;
  std::optional<std::string> name;
  std::optional<bool> auto_heal;
};

class ImageService;
class NetworkService;
class PortBindings;

class ContainerService : public DriverEvents {
 public:
  using Clock = std::function<TimePoint()>;
  // Nothing is owned; all must outlive the service. Call SetEvents(this) on the driver first.
  ContainerService(const Config& cfg, ContainerStore* store, ActionStore* actions,
                   LogStore* logs, SandboxDriver* driver, SerialExecutor* executor, Clock clock);

  // Start-up reconciliation of records with the driver's sandboxes (see docs/architecture.md).
  Status Recover();
  // Queues a reconcile of every settled container (the periodic sync loop calls this).
  void SyncAll();
  // Runs the healthchecks that are due (Docker's rules: `retries` failures in a row make a
  // Running container unhealthy; with auto_heal it is then rebooted). Called about once a
  // second from one thread; a check blocks that thread for at most its timeout.
  void CheckHealth();

  // `c` comes from the API with the request's fields and defaults applied; the service gives
  // it uuid, name (if empty), status, owner, host and times. Returns the record as stored.
  // Images supply defaults (command, entrypoint, env, workdir, ports) to creates; optional.
  void SetImages(ImageService* images) { images_ = images; }
  // Networks give creates their NICs and `addresses` (from the record's `nets`); optional.
  void SetNetworks(NetworkService* networks) { networks_ = networks; }
  // Exposed ports are published while containers run (and host-port conflicts are 409 at
  // create); optional.
  void SetPorts(PortBindings* ports) { ports_ = ports; }
  Result<Container> Create(const RequestContext& ctx, Container c, bool run);
  // uuid or name: NotFound, or Conflict when a name is ambiguous.
  Result<Container> Lookup(const std::string& ident);
  Result<std::vector<Container>> List(const ListQuery& q);
  Result<Container> Update(const RequestContext& ctx, const std::string& ident,
                           const ContainerPatch& patch);
  Result<Container> Rename(const RequestContext& ctx, const std::string& ident,
                           const std::string& name);
  // Applies cpu/memory asynchronously; returns the record before the change (Zun 1.19).
  Result<Container> ResizeContainer(const RequestContext& ctx, const std::string& ident,
                                    const ContainerPatch& patch);
  Status Delete(const RequestContext& ctx, const std::string& ident, bool force, bool stop);
  Status Start(const RequestContext& ctx, const std::string& ident);
  Status Stop(const RequestContext& ctx, const std::string& ident, int timeout);
  Status Reboot(const RequestContext& ctx, const std::string& ident, int timeout);
  Status Pause(const RequestContext& ctx, const std::string& ident);
  Status Unpause(const RequestContext& ctx, const std::string& ident);
  Status Kill(const RequestContext& ctx, const std::string& ident, int signal);
  Status Rebuild(const RequestContext& ctx, const std::string& ident,
                 const std::optional<std::string>& image);

  Result<std::string> Logs(const std::string& ident, const LogQuery& q);
  // Conflict "Timeout on executing command" past [DEFAULT] execute_timeout.
  Result<ExecResult> Execute(const RequestContext& ctx, const std::string& ident,
                             const std::vector<std::string>& argv, const std::string& text);
  Status Resize(const std::string& ident, int width, int height);
  Result<TopResult> Top(const std::string& ident, const std::string& ps_args);
  Result<std::pair<Container, SandboxStats>> Stats(const std::string& ident);
  Result<Archive> GetArchive(const std::string& ident, const std::string& path);
  Status PutArchive(const RequestContext& ctx, const std::string& ident, const std::string& path,
                    const std::string& tar);
  Result<std::string> Commit(const RequestContext& ctx, const std::string& ident,
                             const std::string& repository, const std::string& tag);
  // Hot-plug: a port for one `nets` entry ({network, v4-fixed-ip}: made on demand; or a
  // Neutron port), in the running VM too; the record's addresses follow. Detach takes a
  // network name/uuid or a port id; NotFound when the container has no such port.
  Result<Container> NetworkAttach(const RequestContext& ctx, const std::string& ident,
                                  const nlohmann::json& net);
  Result<Container> NetworkDetach(const RequestContext& ctx, const std::string& ident,
                                  const std::string& network_or_port);
  Result<std::vector<ContainerAction>> Actions(const std::string& ident);
  Result<ContainerAction> Action(const std::string& ident, const std::string& request_id);
  Result<std::vector<Container>> All() { return store_->All(); }

  TimePoint Now() const { return clock_(); }

  // DriverEvents (called on the driver's event thread).
  void OnOutput(const std::string& uuid, Stream stream, const std::string& data,
                const OutputMark& mark) override;
  void OnExit(const std::string& uuid, int exit_code) override;
  void OnLost(const std::string& uuid, const std::string& reason) override;

 private:
  using Mutator = std::function<Status(Container&)>;
  // Read-modify-write of one record under mu_; stamps updated_at. Returns the new record.
  Result<Container> Mutate(const std::string& uuid, const Mutator& fn);
  // Looks up, checks the state table for `op`, sets `task_state` (and `new_status` if
  // given), records the action and queues `work` under the container's uuid, all before
  // returning: what an accepted (202) operation does.
  Status Accept(const RequestContext& ctx, const std::string& ident, Op op, const std::string& action,
                TaskState task_state, std::optional<ContainerStatus> new_status,
                std::function<Status(const std::string& uuid)> work);
  int64_t RecordAction(const RequestContext& ctx, const std::string& uuid,
                       const std::string& action);
  void FinishAction(int64_t action_id, const Status& st);
  // Queues `fn` under the container's key; `fn` returns the outcome for the action record.
  void Queue(const std::string& uuid, int64_t action_id, std::function<Status()> fn);
  SandboxSpec SpecFor(const Container& c) const;
  // Publishes or releases `rec`'s exposed ports as its status says and records where in it;
  // true when `rec` changed. Needs mu_ (Mutate calls it before storing a change).
  bool ApplyPorts(Container& rec);
  // ApplyPorts on the stored record, for records no Mutate touches (containers adopted at start).
  void SyncPorts(const std::string& uuid);
  // Sets the record's `addresses` from its ports.
  Result<Container> RefreshAddresses(const std::string& uuid);
  Result<std::string> CommitImage(const Container& c, const std::string& repository,
                                  const std::string& tag);
  // What status_reason says after a cpu/memory change: applied live or at the next start.
  static std::string LimitsNote(bool live);

  // Worker-side steps (run on the SerialExecutor under the container's key).
  Status DoCreate(const std::string& uuid, bool run);
  Status DoStart(const std::string& uuid);
  Status DoStop(const std::string& uuid, int timeout);
  Status DoReboot(const std::string& uuid, int timeout);
  Status DoPause(const std::string& uuid, bool pause);
  Status DoKill(const std::string& uuid, int signal);
  Status DoRebuild(const std::string& uuid, const std::optional<std::string>& image);
  Status DoDelete(const std::string& uuid, bool force, bool stop);
  Status DoUpdate(const std::string& uuid, const ContainerPatch& patch);
  void HandleExit(const std::string& uuid, int exit_code, bool manual);
  void PolicyRestart(const std::string& uuid);
  void Reconcile(const std::string& uuid);
  // Marks the record Error with `reason` and clears task_state.
  void Fail(const std::string& uuid, const Status& st);
  // The driver's spec for a create: for drivers that UsesImages(), the image is pulled first
  // when the pull policy says so (task_state image_pulling), a freshly pulled image's
  // defaults are applied to the record, and its root disk goes in the spec.
  Result<SandboxSpec> PrepareCreate(const std::string& uuid);
  // PrepareCreate without the NICs.
  Result<SandboxSpec> PrepareImage(const std::string& uuid);

  struct HealthState {
    TimePoint next;
    int failures = 0;
  };
  std::map<std::string, HealthState> health_;  // only touched by CheckHealth's thread

  const Config& cfg_;
  ContainerStore* store_;
  ActionStore* actions_;
  LogStore* logs_;
  SandboxDriver* driver_;
  ImageService* images_ = nullptr;
  NetworkService* networks_ = nullptr;
  PortBindings* ports_ = nullptr;
  SerialExecutor* executor_;
  Clock clock_;
  std::mutex mu_;
};

}  // namespace zunvm
