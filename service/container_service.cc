// ContainerService entry points: validation, records, queuing. The worker steps are
// ContainerLifecycle's (container_lifecycle.cc).
#include "service/container_service.h"

#include <map>

#include "common/failpoint.h"
#include "common/ids.h"
#include "common/logging.h"
#include "service/image_service.h"
#include "service/state_table.h"
#include "service/volume_service.h"

namespace zunvm {

namespace {
Status Outcome(const Status& st) { return st; }
template <typename T>
Status Outcome(const Result<T>& r) {
  return r ? Status::Ok() : r.error();
}
}  // namespace

ContainerService::ContainerService(ContainerServiceDeps deps)
    : deps_(deps),
      records_(deps.store, deps.actions, deps.ports, deps.clock, deps.cfg->unique_container_name_scope),
      networking_(deps.networks, deps.driver, &records_),
      lifecycle_({deps.cfg, &records_, &networking_, deps.logs, deps.driver, deps.executor, deps.clock, deps.images, deps.volumes}),
      health_(&records_, &lifecycle_, deps.driver, deps.clock),
      reconciler_(&records_, &lifecycle_, deps.driver, deps.executor, deps.images, deps.volumes) {
  collector_ = metrics::Global().AddCollector([this](metrics::GaugeWriter& w) { CollectMetrics(w); });
}

void ContainerService::CollectMetrics(metrics::GaugeWriter& w) const {
  auto all = deps_.store->All();
  if (!all) return;
  // Every status of every configured runtime, zeros included, so a query sees a series drop to 0.
  std::map<std::pair<std::string, std::string>, int> count;
  for (const std::string& runtime : deps_.cfg->runtimes) {
    for (int s = 0; s <= static_cast<int>(ContainerStatus::kUnknown); ++s) {
      count[{ToString(static_cast<ContainerStatus>(s)), runtime}] = 0;
    }
  }
  for (const Container& c : *all) ++count[{ToString(c.status), c.runtime.value_or(deps_.cfg->default_runtime)}];
  w.Gauge("zunvm_containers", "Containers on this host by status and runtime", {"status", "runtime"});
  for (const auto& [key, n] : count) w.Sample({key.first, key.second}, n);
}

Status ContainerService::Recover(const std::set<std::string>& capsules) {
  auto all = deps_.store->All();
  if (!all) return all.error();
  for (const Container& c : *all) {
    if (c.capsule_id) continue;  // a capsule's members show the capsule's addresses
    if (Status st = networking_.ReconcileNics(c); !st.ok()) {
      Logger("service")->warn("container {}: addresses not reconciled: {}", c.uuid, st.ToString());
    }
  }
  return reconciler_.Recover(capsules);
}

Result<ContainerList> ContainerService::List(const RequestContext& ctx, ListQuery q) {
  if (!ctx.all_projects) {
    // A project_id filter for another project finds nothing rather than widening the scope.
    auto it = q.filters.find("project_id");
    if (it != q.filters.end() && it->second != ctx.project_id) return ContainerList{};
    q.filters["project_id"] = ctx.project_id;
  }
  return records_.List(q);
}

Result<Container> ContainerService::Allowed(const RequestContext& ctx, const std::string& ident, Op op) {
  auto c = records_.Lookup(ident, &ctx);
  if (!c) return c;
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(op, c->uuid, c->status));
  return c;
}

template <typename R>
R ContainerService::Recorded(const RequestContext& ctx, const Container& c, const std::string& action,
                             const std::function<R()>& call) {
  int64_t id = records_.StartAction(ctx, c.uuid, action);
  R r = call();
  records_.FinishAction(id, Outcome(r));
  return r;
}

Status ContainerService::Accept(const RequestContext& ctx, const std::string& ident, Op op, const std::string& action,
                                TaskState task_state, std::optional<ContainerStatus> new_status,
                                std::function<Status(const std::string& uuid)> step) {
  auto found = records_.Lookup(ident, &ctx);
  if (!found) return found.error();
  auto c = records_.Mutate(found->uuid, [&](Container& rec) -> Status {
    bool whole = op == Op::kDelete || op == Op::kDeleteForce || op == Op::kDeleteStop || op == Op::kRebuild;
    if (rec.capsule_id && whole) {
      return Status::Conflict("Cannot " + action + " container " + rec.uuid + ": it belongs to capsule " + *rec.capsule_id +
                              ", which is deleted as a whole.");
    }
    ZUNVM_RETURN_IF_ERROR(CheckAllowed(op, rec.uuid, rec.status));
    rec.task_state = task_state;
    if (new_status) rec.status = *new_status;
    return Status::Ok();
  });
  if (!c) return c.error();
  std::string uuid = c->uuid;
  lifecycle_.Queue(uuid, records_.StartAction(ctx, uuid, action), [uuid, step = std::move(step)] { return step(uuid); });
  return Status::Ok();
}

Result<Container> ContainerService::Create(const RequestContext& ctx, Container c, bool run) {
  if (deps_.images) {
    auto img = deps_.images->Find(c.image);
    if (img) {
      ImageService::ApplyDefaults(*img, c, c.entrypoint.has_value());
    } else if (img.error().code() != Code::kNotFound) {
      return Err(img.error());
    } else if (c.image_pull_policy == "never") {
      return Err(Status::NotFound("Image " + c.image + " could not be found and image_pull_policy is never.",
                                  "ImageNotFound"));
    }
    // Missing and pullable: the create pulls it (ContainerLifecycle::Create).
  }
  if (c.uuid.empty()) c.uuid = NewUuid();  // else chosen by the caller (Zun's driver)
  c.status = ContainerStatus::kCreating;
  c.task_state.reset();
  c.user_id = ctx.user_id;
  c.project_id = ctx.project_id;
  // Without a name, Insert draws one (ContainerRecords::Insert).
  c.host = deps_.cfg->HostName();
  c.created_at = deps_.clock->Now();
  if (!c.hostname) c.hostname = c.uuid.substr(0, 8) + c.uuid.substr(9, 4);
  auto nets = networking_.Plan(c.requested_nets);
  if (!nets) return Err(nets.error());
  // Addresses are taken before the record exists, so a refused address is a refused create.
  if (!c.mounts.empty() && !deps_.volumes) {
    return Err(Status::Invalid("This zunvmd has no volumes for mounts.", "InvalidValue"));
  }
  bool allocated = false, mounted = false;
  int64_t action_id = 0;
  Status inserted = records_.Insert(c, [&](Container& rec) -> Status {
    ZUNVM_RETURN_IF_ERROR(networking_.Allocate(rec, *nets));
    allocated = true;
    if (deps_.volumes) {
      ZUNVM_RETURN_IF_ERROR(deps_.volumes->Admit(ctx, rec));
      mounted = true;
    }
    return Status::Ok();
  }, &ctx, &action_id);
  if (!inserted.ok()) {
    if (mounted) deps_.volumes->Release(c.uuid);
    if (allocated) networking_.Release(c.uuid);
    return Err(inserted);
  }
  std::string uuid = c.uuid;
  lifecycle_.Queue(uuid, action_id, [this, uuid, run] { return lifecycle_.Create(uuid, run); });
  return c;
}

Result<Container> ContainerService::NetworkAttach(const RequestContext& ctx, const std::string& ident,
                                                  const nlohmann::json& net) {
  auto found = records_.Lookup(ident, &ctx);
  if (!found) return found;
  return networking_.Attach(ctx, *found, net);
}

Result<Container> ContainerService::NetworkDetach(const RequestContext& ctx, const std::string& ident,
                                                  const std::string& network_or_port) {
  auto found = records_.Lookup(ident, &ctx);
  if (!found) return found;
  return networking_.Detach(ctx, *found, network_or_port);
}

Result<Container> ContainerService::Update(const RequestContext& ctx, const std::string& ident,
                                           const ContainerPatch& patch) {
  auto found = Allowed(ctx, ident, Op::kUpdate);
  if (!found) return found;
  if (patch.name && *patch.name != found->name) {  // refused before the VM's limits change
    Container renamed = *found;
    renamed.name = *patch.name;
    ZUNVM_RETURN_IF_ERROR(records_.NameFree(renamed));
  }
  return Recorded<Result<Container>>(ctx, *found, "update", [&]() -> Result<Container> {
    bool limits = (patch.cpu && *patch.cpu != found->cpu) || (patch.memory && *patch.memory != found->memory);
    std::optional<bool> live;
    if (limits && found->container_id) {
      auto applied = deps_.driver->Update(found->uuid, patch.cpu.value_or(found->cpu),
                                          patch.memory.value_or(found->memory));
      if (!applied) return Err(applied.error());
      live = *applied;
    }
    return records_.Mutate(found->uuid, [&](Container& rec) -> Status {
      if (patch.cpu) rec.cpu = *patch.cpu;
      if (patch.memory) rec.memory = *patch.memory;
      if (live) rec.status_reason = ContainerLifecycle::LimitsNote(*live);
      if (patch.name) rec.name = *patch.name;
      if (patch.auto_heal) rec.auto_heal = *patch.auto_heal;
      return Status::Ok();
    });
  });
}

Result<Container> ContainerService::Rename(const RequestContext& ctx, const std::string& ident,
                                           const std::string& name) {
  auto found = records_.Lookup(ident, &ctx);
  if (!found) return found;
  if (found->name == name) {
    return Err(Status::Conflict("The new name for the container is the same as the old name.", "Conflict"));
  }
  return Recorded<Result<Container>>(ctx, *found, "update", [&] {
    return records_.Mutate(found->uuid, [&](Container& rec) -> Status {
      rec.name = name;
      return Status::Ok();
    });
  });
}

Result<Container> ContainerService::ResizeContainer(const RequestContext& ctx, const std::string& ident,
                                                    const ContainerPatch& patch) {
  auto found = Allowed(ctx, ident, Op::kResizeContainer);
  if (!found) return found;
  std::string uuid = found->uuid;
  lifecycle_.Queue(uuid, records_.StartAction(ctx, uuid, "resize"),
                   [this, uuid, patch] { return lifecycle_.Resize(uuid, patch); });
  return found;
}

Status ContainerService::Delete(const RequestContext& ctx, const std::string& ident, bool force, bool stop) {
  Op op = force ? Op::kDeleteForce : stop ? Op::kDeleteStop : Op::kDelete;
  return Accept(ctx, ident, op, "delete", TaskState::kDeleting, ContainerStatus::kDeleting,
                [this, force, stop](const std::string& uuid) { return lifecycle_.Delete(uuid, force, stop); });
}

Status ContainerService::Start(const RequestContext& ctx, const std::string& ident) {
  return Accept(ctx, ident, Op::kStart, "start", TaskState::kStarting, std::nullopt,
                [this](const std::string& uuid) { return lifecycle_.Start(uuid); });
}

Status ContainerService::Stop(const RequestContext& ctx, const std::string& ident, int timeout) {
  return Accept(ctx, ident, Op::kStop, "stop", TaskState::kStopping, std::nullopt,
                [this, timeout](const std::string& uuid) { return lifecycle_.Stop(uuid, timeout); });
}

Status ContainerService::Reboot(const RequestContext& ctx, const std::string& ident, int timeout) {
  return Accept(ctx, ident, Op::kReboot, "reboot", TaskState::kRebooting, ContainerStatus::kRestarting,
                [this, timeout](const std::string& uuid) { return lifecycle_.Reboot(uuid, timeout); });
}

Status ContainerService::Pause(const RequestContext& ctx, const std::string& ident) {
  return Accept(ctx, ident, Op::kPause, "pause", TaskState::kPausing, std::nullopt,
                [this](const std::string& uuid) { return lifecycle_.Pause(uuid, true); });
}

Status ContainerService::Unpause(const RequestContext& ctx, const std::string& ident) {
  return Accept(ctx, ident, Op::kUnpause, "unpause", TaskState::kUnpausing, std::nullopt,
                [this](const std::string& uuid) { return lifecycle_.Pause(uuid, false); });
}

Status ContainerService::Kill(const RequestContext& ctx, const std::string& ident, int signal) {
  return Accept(ctx, ident, Op::kKill, "kill", TaskState::kKilling, std::nullopt,
                [this, signal](const std::string& uuid) { return lifecycle_.Kill(uuid, signal); });
}

Status ContainerService::Rebuild(const RequestContext& ctx, const std::string& ident,
                                 const std::optional<std::string>& image) {
  return Accept(ctx, ident, Op::kRebuild, "rebuild", TaskState::kRebuilding, ContainerStatus::kRebuilding,
                [this, image](const std::string& uuid) { return lifecycle_.Rebuild(uuid, image); });
}

Result<std::string> ContainerService::Logs(const RequestContext& ctx, const std::string& ident, const LogQuery& q) {
  auto c = Allowed(ctx, ident, Op::kLogs);
  if (!c) return Err(c.error());
  return deps_.logs->Read(c->uuid, q);
}

Result<ExecResult> ContainerService::Execute(const RequestContext& ctx, const std::string& ident,
                                             const std::vector<std::string>& argv, const std::string& text) {
  auto c = Allowed(ctx, ident, Op::kExecute);
  if (!c) return Err(c.error());
  return Recorded<Result<ExecResult>>(ctx, *c, "exec_cmd", [&]() -> Result<ExecResult> {
    auto r = deps_.driver->Exec(c->uuid, argv, std::chrono::seconds(deps_.cfg->execute_timeout));
    if (!r && r.error().code() == Code::kDeadlineExceeded) {
      return Err(Status::Conflict("Timeout on executing command: " + text, "Conflict"));
    }
    return r;
  });
}

Status ContainerService::Resize(const RequestContext& ctx, const std::string& ident, int width, int height) {
  auto c = Allowed(ctx, ident, Op::kResize);
  if (!c) return c.error();
  return deps_.driver->ResizeTty(c->uuid, width, height);
}

Result<TopResult> ContainerService::Top(const RequestContext& ctx, const std::string& ident, const std::string& ps_args) {
  auto c = Allowed(ctx, ident, Op::kTop);
  if (!c) return Err(c.error());
  return deps_.driver->Top(c->uuid, ps_args);
}

Result<std::pair<Container, SandboxStats>> ContainerService::Stats(const RequestContext& ctx, const std::string& ident) {
  auto c = Allowed(ctx, ident, Op::kStats);
  if (!c) return Err(c.error());
  auto s = deps_.driver->Stats(c->uuid);
  if (!s) return Err(s.error());
  return std::make_pair(*c, *s);
}

Result<Archive> ContainerService::GetArchive(const RequestContext& ctx, const std::string& ident, const std::string& path) {
  auto c = Allowed(ctx, ident, Op::kGetArchive);
  if (!c) return Err(c.error());
  return deps_.driver->GetArchive(c->uuid, path);
}

Status ContainerService::PutArchive(const RequestContext& ctx, const std::string& ident, const std::string& path,
                                    const std::string& tar) {
  auto c = Allowed(ctx, ident, Op::kPutArchive);
  if (!c) return c.error();
  return Recorded<Status>(ctx, *c, "put_archive", [&] { return deps_.driver->PutArchive(c->uuid, path, tar); });
}

Result<std::string> ContainerService::Commit(const RequestContext& ctx, const std::string& ident,
                                             const std::string& repository, const std::string& tag) {
  auto c = Allowed(ctx, ident, Op::kCommit);
  if (!c) return Err(c.error());
  return Recorded<Result<std::string>>(ctx, *c, "commit", [&] { return CommitImage(*c, repository, tag); });
}

Result<std::vector<ContainerAction>> ContainerService::Actions(const RequestContext& ctx, const std::string& ident) {
  auto c = records_.Lookup(ident, &ctx);
  if (!c) return Err(c.error());
  return records_.Actions(c->uuid);
}

Result<ContainerAction> ContainerService::Action(const RequestContext& ctx, const std::string& ident, const std::string& request_id) {
  auto c = records_.Lookup(ident, &ctx);
  if (!c) return Err(c.error());
  return records_.Action(c->uuid, request_id);
}

// When the container's image is here: the container's whole filesystem (as the agent archives
// "/", pseudo filesystems left out) becomes the one layer of a new local image with the
// original image's runtime config. A driver that needs no images snapshots in the driver.
Result<std::string> ContainerService::CommitImage(const Container& c, const std::string& repository,
                                                  const std::string& tag) {
  if (!deps_.images) return deps_.driver->Commit(c.uuid, repository, tag);
  auto base = deps_.images->Find(c.image);
  if (!base && base.error().code() == Code::kNotFound && !deps_.driver->UsesImages()) {
    return deps_.driver->Commit(c.uuid, repository, tag);
  }
  if (!base) return Err(base.error());
  auto files = deps_.driver->GetArchive(c.uuid, "/");
  if (!files) return Err(files.error());
  Failpoint("commit.archived");
  auto img = deps_.images->Commit(*base, files->tar, repository, tag);
  if (!img) return Err(img.error());
  Failpoint("commit.image_made");
  return img->uuid;
}

void ContainerService::OnOutput(const std::string& uuid, Stream stream, const std::string& data,
                                const OutputMark& mark) {
  Status st = deps_.logs->Append(uuid, stream, data, deps_.clock->Now(), mark);
  if (!st.ok()) Logger("service")->warn("log of {}: {}", uuid, st.ToString());
}

void ContainerService::OnExit(const std::string& uuid, int exit_code) {
  deps_.executor->Post(uuid, [this, uuid, exit_code] { lifecycle_.Exited(uuid, exit_code, false); });
}

void ContainerService::OnLost(const std::string& uuid, const std::string& reason) {
  deps_.executor->Post(uuid, [this, uuid, reason] { lifecycle_.Fail(uuid, Status::Unavailable(reason)); });
}

}  // namespace zunvm
