// ContainerService: the container API's entry points, the one place where requests become
// durable records and queued work. It owns the service's parts, each of one concern:
//   ContainerRecords    the records and action history under one mutex (ports follow status)
//   ContainerLifecycle  the worker steps of the state machine, restart policy, settling
//   ContainerNetworking ports and addresses: taken at create, hot-plugged, released
//   HealthMonitor       healthchecks on the injected clock
//   Reconciler          records vs sandboxes at start-up and periodically
//
// Every accepted operation validates against the allowed-state table, writes the new intent
// to SQLite (status/task_state/action history) before returning, and queues the worker step on
// the SerialExecutor under the container's uuid, so operations on one container run one at a
// time and in order while HTTP threads never wait on a sandbox. Exec, top, stats, archives,
// commit, network attach/detach and live cpu/memory updates are synchronous driver calls made
// on the caller's (API worker) thread.
//
// Thread safety: all public methods are thread-safe (CheckHealth: one thread at a time).
#pragma once

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/metrics.h"
#include "common/serial_executor.h"
#include "db/action_store.h"
#include "db/container_store.h"
#include "driver/driver.h"
#include "model/action.h"
#include "model/container.h"
#include "model/list_query.h"
#include "model/request_context.h"
#include "model/results.h"
#include "service/container_lifecycle.h"
#include "service/container_networking.h"
#include "service/container_records.h"
#include "service/health_monitor.h"
#include "service/log_store.h"
#include "service/reconciler.h"
#include "service/state_table.h"

namespace zunvm {

class ImageService;
class VolumeService;
class NetworkService;
class PortBindings;

// What the service works with. Nothing is owned; all must outlive the service.
struct ContainerServiceDeps {
  const Config* cfg = nullptr;
  ContainerStore* store = nullptr;
  ActionStore* actions = nullptr;
  LogStore* logs = nullptr;
  SandboxDriver* driver = nullptr;
  SerialExecutor* executor = nullptr;
  Clock* clock = nullptr;
  // Optional parts. Images give creates their defaults (command, entrypoint, env, workdir,
  // ports), pulls and root disks; networks their NICs and `addresses`; ports publish exposed
  // ports while containers run (and make host-port conflicts 409 at create).
  ImageService* images = nullptr;
  NetworkService* networks = nullptr;
  PortBindings* ports = nullptr;
  // Volumes give creates their `mounts` (none: a create with mounts is refused).
  VolumeService* volumes = nullptr;
};

class ContainerService : public DriverEvents {
 public:
  // Call driver->SetEvents(this) before the driver's Init.
  explicit ContainerService(ContainerServiceDeps deps);

  // Start-up reconciliation of records with the driver's sandboxes (see docs/architecture.md).
  // `capsules`: the capsules' uuids, whose sandboxes have no container record of their own.
  // First each container's NICs, ports and addresses are made to agree
  // (ContainerNetworking::ReconcileNics), then the reconciler settles records and sandboxes.
  Status Recover(const std::set<std::string>& capsules = {});
  // Queues a reconcile of every settled container (the periodic sync loop calls this).
  void SyncAll() { reconciler_.SyncAll(); }
  // Runs the healthchecks that are due (HealthMonitor).
  void CheckHealth() { health_.Check(); }

  // `c` comes from the API with the request's fields and defaults applied; the service gives
  // it uuid (unless the caller chose one), name (if empty), status, owner, host and times.
  // Returns the record as stored.
  Result<Container> Create(const RequestContext& ctx, Container c, bool run);
  // uuid or name: NotFound, or Conflict when a name is ambiguous.
  // Scoped to ctx's project unless ctx.all_projects: another project's container is NotFound.
  Result<Container> Lookup(const RequestContext& ctx, const std::string& ident) { return records_.Lookup(ident, &ctx); }
  Result<ContainerList> List(const RequestContext& ctx, ListQuery q);
  Result<std::vector<Container>> All() { return records_.All(); }
  Result<Container> Update(const RequestContext& ctx, const std::string& ident, const ContainerPatch& patch);
  Result<Container> Rename(const RequestContext& ctx, const std::string& ident, const std::string& name);
  // Applies cpu/memory asynchronously; returns the record before the change (Zun 1.19).
  Result<Container> ResizeContainer(const RequestContext& ctx, const std::string& ident, const ContainerPatch& patch);
  Status Delete(const RequestContext& ctx, const std::string& ident, bool force, bool stop);
  Status Start(const RequestContext& ctx, const std::string& ident);
  Status Stop(const RequestContext& ctx, const std::string& ident, int timeout);
  Status Reboot(const RequestContext& ctx, const std::string& ident, int timeout);
  Status Pause(const RequestContext& ctx, const std::string& ident);
  Status Unpause(const RequestContext& ctx, const std::string& ident);
  Status Kill(const RequestContext& ctx, const std::string& ident, int signal);
  Status Rebuild(const RequestContext& ctx, const std::string& ident, const std::optional<std::string>& image);

  Result<std::string> Logs(const RequestContext& ctx, const std::string& ident, const LogQuery& q);
  // Conflict "Timeout on executing command" past [DEFAULT] execute_timeout.
  Result<ExecResult> Execute(const RequestContext& ctx, const std::string& ident,
                             const std::vector<std::string>& argv, const std::string& text);
  Status Resize(const RequestContext& ctx, const std::string& ident, int width, int height);
  Result<TopResult> Top(const RequestContext& ctx, const std::string& ident, const std::string& ps_args);
  Result<std::pair<Container, SandboxStats>> Stats(const RequestContext& ctx, const std::string& ident);
  Result<Archive> GetArchive(const RequestContext& ctx, const std::string& ident, const std::string& path);
  Status PutArchive(const RequestContext& ctx, const std::string& ident, const std::string& path,
                    const std::string& tar);
  Result<std::string> Commit(const RequestContext& ctx, const std::string& ident, const std::string& repository,
                             const std::string& tag);
  // Hot-plug: a port for one `nets` entry ({network, v4-fixed-ip}: made on demand; or a
  // Neutron port), in the running VM too; the record's addresses follow. Detach takes a
  // network name/uuid or a port id; NotFound when the container has no such port.
  Result<Container> NetworkAttach(const RequestContext& ctx, const std::string& ident, const nlohmann::json& net);
  Result<Container> NetworkDetach(const RequestContext& ctx, const std::string& ident,
                                  const std::string& network_or_port);
  Result<std::vector<ContainerAction>> Actions(const RequestContext& ctx, const std::string& ident);
  Result<ContainerAction> Action(const RequestContext& ctx, const std::string& ident, const std::string& request_id);

  TimePoint Now() const { return deps_.clock->Now(); }

  // The parts, for the capsule service (whose members are containers).
  ContainerRecords& records() { return records_; }
  ContainerLifecycle& lifecycle() { return lifecycle_; }
  ContainerNetworking& networking() { return networking_; }

  // DriverEvents (called on the driver's event threads; they only log or queue).
  void OnOutput(const std::string& uuid, Stream stream, const std::string& data, const OutputMark& mark) override;
  void OnExit(const std::string& uuid, int exit_code) override;
  void OnLost(const std::string& uuid, const std::string& reason) override;

 private:
  void CollectMetrics(metrics::GaugeWriter& w) const;
  // Looks up, checks the state table for `op`, sets `task_state` (and `new_status` if
  // given), records the action and queues `step` under the container's uuid, all before
  // returning: what an accepted (202) operation does.
  Status Accept(const RequestContext& ctx, const std::string& ident, Op op, const std::string& action,
                TaskState task_state, std::optional<ContainerStatus> new_status,
                std::function<Status(const std::string& uuid)> step);
  // Looks up and checks the state table for `op`: the start of every synchronous call.
  Result<Container> Allowed(const RequestContext& ctx, const std::string& ident, Op op);
  // Runs `call` as action `action` of `c`: recorded, and finished with its outcome.
  template <typename R>
  R Recorded(const RequestContext& ctx, const Container& c, const std::string& action, const std::function<R()>& call);
  Result<std::string> CommitImage(const Container& c, const std::string& repository, const std::string& tag);

  ContainerServiceDeps deps_;
  ContainerRecords records_;
  ContainerNetworking networking_;
  ContainerLifecycle lifecycle_;
  HealthMonitor health_;
  Reconciler reconciler_;
  // zunvm_containers{status, runtime} at scrape time; last, so it goes first.
  metrics::CollectorHandle collector_;
};

}  // namespace zunvm
