// ContainerService entry points: validation, records, queuing. Worker steps and driver
// events live in container_tasks.cc.
#include "service/container_service.h"

#include "service/image_service.h"
#include "service/network_service.h"
#include "service/port_bindings.h"

#include "common/ids.h"
#include "common/logging.h"
#include "common/strings.h"
#include "service/state_table.h"
#include "service/zun_errors.h"

namespace zunvm {

ContainerService::ContainerService(const Config& cfg, ContainerStore* store,
                                   ActionStore* actions, LogStore* logs, SandboxDriver* driver,
                                   SerialExecutor* executor, Clock clock)
    : cfg_(cfg), store_(store), actions_(actions), logs_(logs), driver_(driver),
      executor_(executor), clock_(std::move(clock)) {}

Result<Container> ContainerService::Lookup(const std::string& ident) {
  if (IsUuidLike(ident)) {
    auto c = store_->Get(CanonicalUuid(ident));
    if (c) return c;
    if (c.error().code() != Code::kNotFound) return c;
  }
  auto found = store_->FindByName(ident);
  if (!found) return Err(found.error());
  if (found->empty()) {
    return Err(Status::NotFound("Container " + ident + " could not be found.",
                                "ContainerNotFound"));
  }
  if (found->size() > 1) {
    return Err(Status::Conflict(
        "Multiple containers exist with same name. Please use the container uuid instead.",
        "Conflict"));
  }
  return found->front();
}

Result<std::vector<Container>> ContainerService::List(const ListQuery& q) {
  return Named(store_->List(q), Code::kNotFound, "MarkerNotFound");
}

Result<Container> ContainerService::Mutate(const std::string& uuid, const Mutator& fn) {
  Result<Container> c = Err(Status::Internal("unset"));
  {
    std::lock_guard<std::mutex> lock(mu_);
    c = Named(store_->Get(uuid), Code::kNotFound, "ContainerNotFound");
    if (!c) return c;
    Status st = fn(*c);
    if (!st.ok()) return Err(st);
    c->updated_at = clock_();
    // Every status change passes here: the ports follow it before anyone can see the new
    // status, so a reader that sees Running finds them published (and Stopped, released).
    ApplyPorts(*c);
    st = store_->Update(*c);
    if (!st.ok()) return Err(Named(st, Code::kNotFound, "ContainerNotFound"));
  }
  return c;
}

bool ContainerService::ApplyPorts(Container& rec) {
  if (!ports_) return false;
  std::string warning;
  nlohmann::json now = ports_->Sync(rec, &warning);
  if (now == rec.published_ports && warning.empty()) return false;
  rec.published_ports = now;
  if (!warning.empty()) rec.status_reason = warning;
  return true;
}

void ContainerService::SyncPorts(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto rec = store_->Get(uuid);
  if (!rec || !ApplyPorts(*rec)) return;
  Status st = store_->Update(*rec);
  if (!st.ok()) Logger("service")->warn("published ports of {}: {}", uuid, st.ToString());
}

int64_t ContainerService::RecordAction(const RequestContext& ctx, const std::string& uuid,
                                       const std::string& action) {
  ContainerAction a;
  a.action = action;
  a.container_uuid = uuid;
  a.request_id = ctx.request_id;
  a.user_id = ctx.user_id;
  a.project_id = ctx.project_id;
  a.start_time = clock_();
  auto id = actions_->Start(a, "compute__do_container_" + action);
  if (!id) {
    Logger("service")->warn("cannot record action {} of {}: {}", action, uuid,
                            id.error().ToString());
    return 0;
  }
  return *id;
}

void ContainerService::FinishAction(int64_t action_id, const Status& st) {
  if (action_id == 0) return;
  Status s = actions_->Finish(action_id, clock_(), st.ok() ? "" : st.message());
  if (!s.ok()) Logger("service")->warn("cannot finish action {}: {}", action_id, s.ToString());
}

void ContainerService::Queue(const std::string& uuid, int64_t action_id,
                             std::function<Status()> fn) {
  executor_->Post(uuid, [this, uuid, action_id, fn = std::move(fn)] {
    Status st = fn();
    if (!st.ok()) Logger("service")->warn("container {}: {}", uuid, st.ToString());
    FinishAction(action_id, st);
  });
}

Status ContainerService::Accept(const RequestContext& ctx, const std::string& ident,
                                Op op, const std::string& action, TaskState task_state,
                                std::optional<ContainerStatus> new_status,
                                std::function<Status(const std::string& uuid)> work) {
  auto found = Lookup(ident);
  if (!found) return found.error();
  auto c = Mutate(found->uuid, [&](Container& rec) -> Status {
    ZUNVM_RETURN_IF_ERROR(CheckAllowed(op, rec.uuid, rec.status));
    rec.task_state = task_state;
    if (new_status) rec.status = *new_status;
    return Status::Ok();
  });
  if (!c) return c.error();
  std::string uuid = c->uuid;
  Queue(uuid, RecordAction(ctx, uuid, action), [uuid, work = std::move(work)] { return work(uuid); });
  return Status::Ok();
}

Result<Container> ContainerService::Create(const RequestContext& ctx, Container c, bool run) {
  if (images_) {
    auto img = images_->Find(c.image);
    if (img) {
      ImageService::ApplyDefaults(*img, c, c.entrypoint.has_value());
    } else if (img.error().code() != Code::kNotFound) {
      return Err(img.error());
    } else if (c.image_pull_policy == "never") {
      return Err(Status::NotFound("Image " + c.image + " could not be found and image_pull_policy is never.",
                                  "ImageNotFound"));
    }
    // Missing and pullable: registry pulls come with the registry client; until then the
    // driver gets the name as it is.
  }
  if (c.uuid.empty()) c.uuid = NewUuid();  // else chosen by the caller (Zun's driver)
  if (c.name.empty()) c.name = GenerateContainerName();
  c.status = ContainerStatus::kCreating;
  c.task_state.reset();
  c.user_id = ctx.user_id;
  c.project_id = ctx.project_id;
  c.host = cfg_.HostName();
  c.created_at = clock_();
  if (!c.hostname) c.hostname = c.uuid.substr(0, 8) + c.uuid.substr(9, 4);
  std::vector<NetRequest> nets;
  if (networks_) {
    auto parsed = networks_->ParseNets(c.requested_nets);
    if (!parsed) return Err(parsed.error());
    nets = *parsed;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (store_->Get(c.uuid)) {
      return Err(Status::Conflict("A container with UUID " + c.uuid + " already exists.",
                                  "ContainerAlreadyExists"));
    }
    if (ports_) {
      auto all = store_->All();
      if (!all) return Err(all.error());
      ZUNVM_RETURN_IF_ERROR(ports_->CheckCreate(c, *all));
    }
    // Addresses are taken before the record exists, so a refused address is a refused create.
    if (networks_) {
      auto nics = networks_->Allocate(c.uuid, nets);
      if (!nics) return Err(nics.error());
      c.addresses = NetworkService::Addresses(*nics);
    }
    Status inserted = store_->Insert(c);
    if (!inserted.ok()) {
      if (networks_) (void)networks_->ReleaseContainer(c.uuid);
      return Err(inserted);
    }
  }
  int64_t action = RecordAction(ctx, c.uuid, "create");
  std::string uuid = c.uuid;
  Queue(uuid, action, [this, uuid, run] { return DoCreate(uuid, run); });
  return c;
}

Result<Container> ContainerService::NetworkAttach(const RequestContext& ctx, const std::string& ident,
                                                  const nlohmann::json& net) {
  if (!networks_) return Err(Status::NotImplemented("This zunvmd has no networks."));
  auto found = Lookup(ident);
  if (!found) return found;
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kNetworkAttach, found->uuid, found->status));
  auto request = networks_->ParseNet(net);
  if (!request) return Err(request.error());
  int64_t action = RecordAction(ctx, found->uuid, "network_attach");
  auto nic = networks_->AllocateOne(found->uuid, *request);
  Status st = nic ? Status::Ok() : nic.error();
  if (st.ok() && found->container_id) {
    st = driver_->AttachNic(found->uuid, *nic);
    if (!st.ok()) (void)networks_->ReleasePort(nic->port_id);
  }
  FinishAction(action, st);
  if (!st.ok()) return Err(st);
  return RefreshAddresses(found->uuid);
}

Result<Container> ContainerService::NetworkDetach(const RequestContext& ctx, const std::string& ident,
                                                  const std::string& network_or_port) {
  if (!networks_) return Err(Status::NotImplemented("This zunvmd has no networks."));
  auto found = Lookup(ident);
  if (!found) return found;
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kNetworkDetach, found->uuid, found->status));
  auto nics = networks_->NicsOf(found->uuid);
  if (!nics) return Err(nics.error());
  auto net = networks_->Find(network_or_port);
  std::optional<SandboxNic> nic;
  for (const auto& n : *nics) {
    if (n.port_id == network_or_port || n.network_uuid == network_or_port ||
        (net && n.network_uuid == net->uuid)) {
      nic = n;
    }
  }
  if (!nic) {
    return Err(Status::NotFound("Container " + found->uuid + " has no port on " + network_or_port + ".",
                                "NetworkNotFound"));
  }
  int64_t action = RecordAction(ctx, found->uuid, "network_detach");
  Status st = Status::Ok();
  if (found->container_id) {
    st = driver_->DetachNic(found->uuid, nic->port_id);
    if (st.code() == Code::kNotFound) st = Status::Ok();  // not in the sandbox: only the address to free
  }
  if (st.ok()) st = networks_->ReleasePort(nic->port_id);
  FinishAction(action, st);
  if (!st.ok()) return Err(st);
  return RefreshAddresses(found->uuid);
}

Result<Container> ContainerService::RefreshAddresses(const std::string& uuid) {
  auto nics = networks_->NicsOf(uuid);
  if (!nics) return Err(nics.error());
  return Mutate(uuid, [&](Container& rec) -> Status {
    rec.addresses = NetworkService::Addresses(*nics);
    return Status::Ok();
  });
}

Result<Container> ContainerService::Update(const RequestContext& ctx, const std::string& ident,
                                           const ContainerPatch& patch) {
  auto found = Lookup(ident);
  if (!found) return found;
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kUpdate, found->uuid, found->status));
  int64_t action = RecordAction(ctx, found->uuid, "update");
  bool limits = (patch.cpu && *patch.cpu != found->cpu) ||
                (patch.memory && *patch.memory != found->memory);
  std::optional<bool> live;
  if (limits && found->container_id) {
    auto applied = driver_->Update(found->uuid, patch.cpu.value_or(found->cpu),
                                   patch.memory.value_or(found->memory));
    if (!applied) {
      FinishAction(action, applied.error());
      return Err(applied.error());
    }
    live = *applied;
  }
  auto c = Mutate(found->uuid, [&](Container& rec) -> Status {
    if (patch.cpu) rec.cpu = *patch.cpu;
    if (patch.memory) rec.memory = *patch.memory;
    if (live) rec.status_reason = LimitsNote(*live);
    if (patch.name) rec.name = *patch.name;
    if (patch.auto_heal) rec.auto_heal = *patch.auto_heal;
    return Status::Ok();
  });
  FinishAction(action, c ? Status::Ok() : c.error());
  return c;
}

std::string ContainerService::LimitsNote(bool live) {
  return live ? "cpu/memory updated live" : "cpu/memory change applies at the next start";
}

Result<Container> ContainerService::Rename(const RequestContext& ctx, const std::string& ident,
                                           const std::string& name) {
  auto found = Lookup(ident);
  if (!found) return found;
  if (found->name == name) {
    return Err(Status::Conflict("The new name for the container is the same as the old name.",
                                "Conflict"));
  }
  int64_t action = RecordAction(ctx, found->uuid, "update");
  auto c = Mutate(found->uuid, [&](Container& rec) -> Status {
    rec.name = name;
    return Status::Ok();
  });
  FinishAction(action, c ? Status::Ok() : c.error());
  return c;
}

Result<Container> ContainerService::ResizeContainer(const RequestContext& ctx,
                                                    const std::string& ident,
                                                    const ContainerPatch& patch) {
  auto found = Lookup(ident);
  if (!found) return found;
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kResizeContainer, found->uuid, found->status));
  int64_t action = RecordAction(ctx, found->uuid, "resize");
  std::string uuid = found->uuid;
  Queue(uuid, action, [this, uuid, patch] { return DoUpdate(uuid, patch); });
  return found;
}

Status ContainerService::Delete(const RequestContext& ctx, const std::string& ident, bool force,
                                bool stop) {
  Op op = force ? Op::kDeleteForce : stop ? Op::kDeleteStop : Op::kDelete;
  return Accept(ctx, ident, op, "delete", TaskState::kDeleting, ContainerStatus::kDeleting,
                [this, force, stop](const std::string& uuid) { return DoDelete(uuid, force, stop); });
}

Status ContainerService::Start(const RequestContext& ctx, const std::string& ident) {
  return Accept(ctx, ident, Op::kStart, "start", TaskState::kStarting, std::nullopt,
                [this](const std::string& uuid) { return DoStart(uuid); });
}

Status ContainerService::Stop(const RequestContext& ctx, const std::string& ident, int timeout) {
  return Accept(ctx, ident, Op::kStop, "stop", TaskState::kStopping, std::nullopt,
                [this, timeout](const std::string& uuid) { return DoStop(uuid, timeout); });
}

Status ContainerService::Reboot(const RequestContext& ctx, const std::string& ident,
                                int timeout) {
  return Accept(ctx, ident, Op::kReboot, "reboot", TaskState::kRebooting, ContainerStatus::kRestarting,
                [this, timeout](const std::string& uuid) { return DoReboot(uuid, timeout); });
}

Status ContainerService::Pause(const RequestContext& ctx, const std::string& ident) {
  return Accept(ctx, ident, Op::kPause, "pause", TaskState::kPausing, std::nullopt,
                [this](const std::string& uuid) { return DoPause(uuid, true); });
}

Status ContainerService::Unpause(const RequestContext& ctx, const std::string& ident) {
  return Accept(ctx, ident, Op::kUnpause, "unpause", TaskState::kUnpausing, std::nullopt,
                [this](const std::string& uuid) { return DoPause(uuid, false); });
}

Status ContainerService::Kill(const RequestContext& ctx, const std::string& ident, int signal) {
  return Accept(ctx, ident, Op::kKill, "kill", TaskState::kKilling, std::nullopt,
                [this, signal](const std::string& uuid) { return DoKill(uuid, signal); });
}

Status ContainerService::Rebuild(const RequestContext& ctx, const std::string& ident,
                                 const std::optional<std::string>& image) {
  return Accept(ctx, ident, Op::kRebuild, "rebuild", TaskState::kRebuilding, ContainerStatus::kRebuilding,
                [this, image](const std::string& uuid) { return DoRebuild(uuid, image); });
}

Result<std::string> ContainerService::Logs(const std::string& ident, const LogQuery& q) {
  auto c = Lookup(ident);
  if (!c) return Err(c.error());
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kLogs, c->uuid, c->status));
  return logs_->Read(c->uuid, q);
}

Result<ExecResult> ContainerService::Execute(const RequestContext& ctx, const std::string& ident,
                                             const std::vector<std::string>& argv,
                                             const std::string& text) {
  auto c = Lookup(ident);
  if (!c) return Err(c.error());
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kExecute, c->uuid, c->status));
  int64_t action = RecordAction(ctx, c->uuid, "exec_cmd");
  auto r = driver_->Exec(c->uuid, argv, std::chrono::seconds(cfg_.execute_timeout));
  if (!r && r.error().code() == Code::kDeadlineExceeded) {
    Status st = Status::Conflict("Timeout on executing command: " + text, "Conflict");
    FinishAction(action, st);
    return Err(st);
  }
  FinishAction(action, r ? Status::Ok() : r.error());
  return r;
}

Status ContainerService::Resize(const std::string& ident, int width, int height) {
  auto c = Lookup(ident);
  if (!c) return c.error();
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kResize, c->uuid, c->status));
  return driver_->ResizeTty(c->uuid, width, height);
}

Result<TopResult> ContainerService::Top(const std::string& ident, const std::string& ps_args) {
  auto c = Lookup(ident);
  if (!c) return Err(c.error());
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kTop, c->uuid, c->status));
  return driver_->Top(c->uuid, ps_args);
}

Result<std::pair<Container, SandboxStats>> ContainerService::Stats(const std::string& ident) {
  auto c = Lookup(ident);
  if (!c) return Err(c.error());
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kStats, c->uuid, c->status));
  auto s = driver_->Stats(c->uuid);
  if (!s) return Err(s.error());
  return std::make_pair(*c, *s);
}

Result<Archive> ContainerService::GetArchive(const std::string& ident, const std::string& path) {
  auto c = Lookup(ident);
  if (!c) return Err(c.error());
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kGetArchive, c->uuid, c->status));
  return driver_->GetArchive(c->uuid, path);
}

Status ContainerService::PutArchive(const RequestContext& ctx, const std::string& ident,
                                    const std::string& path, const std::string& tar) {
  auto c = Lookup(ident);
  if (!c) return c.error();
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kPutArchive, c->uuid, c->status));
  int64_t action = RecordAction(ctx, c->uuid, "put_archive");
  Status st = driver_->PutArchive(c->uuid, path, tar);
  FinishAction(action, st);
  return st;
}

Result<std::string> ContainerService::Commit(const RequestContext& ctx, const std::string& ident,
                                             const std::string& repository,
                                             const std::string& tag) {
  auto c = Lookup(ident);
  if (!c) return Err(c.error());
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kCommit, c->uuid, c->status));
  int64_t action = RecordAction(ctx, c->uuid, "commit");
  auto id = CommitImage(*c, repository, tag);
  FinishAction(action, id ? Status::Ok() : id.error());
  return id;
}

Result<std::vector<ContainerAction>> ContainerService::Actions(const std::string& ident) {
  auto c = Lookup(ident);
  if (!c) return Err(c.error());
  return actions_->List(c->uuid);
}

Result<ContainerAction> ContainerService::Action(const std::string& ident,
                                                 const std::string& request_id) {
  auto c = Lookup(ident);
  if (!c) return Err(c.error());
  return Named(actions_->Get(c->uuid, request_id), Code::kNotFound, "ContainerActionNotFound");
}

// When the container's image is here: the container's whole filesystem (as the agent archives
// "/", pseudo filesystems left out) becomes the one layer of a new local image with the
// original image's runtime config. A driver that needs no images (the fake) snapshots in the
// driver when the image is absent.
Result<std::string> ContainerService::CommitImage(const Container& c, const std::string& repository,
                                                  const std::string& tag) {
  if (!images_) return driver_->Commit(c.uuid, repository, tag);
  auto base = images_->Find(c.image);
  if (!base && base.error().code() == Code::kNotFound && !driver_->UsesImages()) {
    return driver_->Commit(c.uuid, repository, tag);
  }
  if (!base) return Err(base.error());
  auto files = driver_->GetArchive(c.uuid, "/");
  if (!files) return Err(files.error());
  auto img = images_->Commit(*base, files->tar, repository, tag);
  if (!img) return Err(img.error());
  return img->uuid;
}

SandboxSpec ContainerService::SpecFor(const Container& c) const {
  SandboxSpec s;
  s.uuid = c.uuid;
  s.name = c.name;
  s.image = c.image;
  if (c.entrypoint) s.argv = *c.entrypoint;
  if (c.command) s.argv.insert(s.argv.end(), c.command->begin(), c.command->end());
  s.env = c.environment;
  s.workdir = c.workdir.value_or("");
  s.hostname = c.hostname.value_or(c.uuid.substr(0, 12));
  s.cpu = c.cpu;
  s.memory_mib = c.memory;
  s.disk_gib = c.disk.value_or(0);
  s.tty = c.tty;
  s.interactive = c.interactive;
  s.privileged = c.privileged;
  s.runtime = c.runtime.value_or(cfg_.container_runtime);
  s.labels = c.labels;
  return s;
}

}  // namespace zunvm
