#include "service/container_lifecycle.h"

#include <algorithm>

#include "common/failpoint.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "service/image_service.h"
#include "service/volume_service.h"

namespace zunvm {

namespace {
bool IsNotFound(const Status& st) { return st.code() == Code::kNotFound; }
Status Done(const Result<Container>& r) { return r ? Status::Ok() : r.error(); }
}  // namespace

void ContainerLifecycle::Queue(const std::string& uuid, int64_t action_id, std::function<Status()> step) {
  d_.executor->Post(uuid, [this, uuid, action_id, step = std::move(step)] {
    Status st = step();
    if (!st.ok()) Logger("service")->warn("container {}: {}", uuid, st.ToString());
    d_.records->FinishAction(action_id, st);
  });
}

void ContainerLifecycle::Fail(const std::string& uuid, const Status& st) {
  auto r = d_.records->Mutate(uuid, [&](Container& c) {
    c.status = ContainerStatus::kError;
    c.status_reason = st.message();
    c.task_state.reset();
    return Status::Ok();
  });
  if (!r && !IsNotFound(r.error())) {
    Logger("service")->error("cannot record failure of {}: {}", uuid, r.error().ToString());
  }
}

namespace {

std::string RuntimeOf(const Container& c) { return c.runtime.value_or(""); }

metrics::HistogramFamily& CreateToRunning() {
  static auto& h = metrics::Global().Histogram(
      "zunvm_container_create_to_running_seconds",
      "From the create request's acceptance to the container running (run, i.e. create with start)", {"runtime"},
      metrics::OperationSeconds());
  return h;
}

metrics::HistogramFamily& StopSeconds() {
  static auto& h = metrics::Global().Histogram("zunvm_container_stop_seconds",
                                               "A stop of a running container, until its process exited",
                                               {"runtime"}, metrics::OperationSeconds());
  return h;
}

metrics::CounterFamily& Operations() {
  static auto& c = metrics::Global().Counter("zunvm_container_operations_total",
                                             "Container operations run by the service, by outcome",
                                             {"operation", "outcome"});
  return c;
}

void Count(const char* op, const Status& st) { Operations().Inc({op, st.ok() ? "ok" : "error"}); }

}  // namespace

Status ContainerLifecycle::OrFail(const std::string& uuid, Status st) {
  if (!st.ok()) Fail(uuid, st);
  return st;
}

Status ContainerLifecycle::SetTask(const std::string& uuid, std::optional<TaskState> task) {
  return Done(d_.records->Mutate(uuid, [&](Container& rec) -> Status {
    rec.task_state = task;
    return Status::Ok();
  }));
}

SandboxSpec ContainerLifecycle::SpecFor(const Container& c) const {
  SandboxSpec s;
  s.uuid = c.uuid;
  s.name = c.name;
  s.image = c.image;
  if (c.entrypoint) s.argv = *c.entrypoint;
  if (c.command) s.argv.insert(s.argv.end(), c.command->begin(), c.command->end());
  s.env = c.image_environment;
  for (const auto& [k, v] : c.environment) s.env[k] = v;  // the caller's win
  s.workdir = c.workdir.value_or("");
  s.hostname = c.hostname.value_or(c.uuid.substr(0, 12));
  s.cpu = c.cpu;
  s.memory_mib = c.memory;
  s.disk_gib = c.disk.value_or(0);
  s.tty = c.tty;
  s.interactive = c.interactive;
  s.privileged = c.privileged;
  s.runtime = c.runtime.value_or(d_.cfg->default_runtime);
  s.labels = c.labels;
  return s;
}

std::string ContainerLifecycle::LimitsNote(bool live) {
  return live ? "cpu/memory updated live" : "cpu/memory change applies at the next start";
}

Result<SandboxSpec> ContainerLifecycle::PrepareSpec(const std::string& uuid, bool fresh) {
  auto c = d_.records->Get(uuid);
  if (!c) return Err(c.error());
  SandboxSpec spec;
  if (!d_.images || !d_.driver->UsesImages()) {
    spec = SpecFor(*c);
  } else {
    std::string policy = c->image_pull_policy.value_or("ifnotpresent");
    auto img = d_.images->Find(c->image);
    if (!img && img.error().code() != Code::kNotFound) return Err(img.error());
    if ((policy == "always" && !(fresh && img)) || (!img && policy != "never")) {
      ZUNVM_RETURN_IF_ERROR(SetTask(uuid, TaskState::kImagePulling));
      auto pulled = d_.images->Pull(c->image);
      if (!pulled && !img) return Err(pulled.error());  // `always` with a local copy: use it
      if (pulled) {
        bool fresh = !img;
        img = pulled;
        if (fresh) {
          auto applied = d_.records->Mutate(uuid, [&](Container& rec) -> Status {
            ImageService::ApplyDefaults(*img, rec, rec.entrypoint.has_value());
            return Status::Ok();
          });
          if (!applied) return Err(applied.error());
          c = *applied;
        }
      }
      ZUNVM_RETURN_IF_ERROR(SetTask(uuid, TaskState::kCreating));
    }
    if (!img) return Err(img.error());
    auto disk = d_.images->RootfsDisk(*img);
    if (!disk) return Err(disk.error());
    auto upper = d_.images->ContainerDisk(uuid, c->disk.value_or(d_.cfg->default_disk));
    if (!upper) return Err(upper.error());
    spec = SpecFor(*c);
    spec.image_disk = *disk;
    spec.upper_disk = *upper;
    if (spec.user.empty()) spec.user = img->config.value("user", "");  // the image's USER
  }
  ZUNVM_RETURN_IF_ERROR(d_.networking->AddTo(spec));
  // A capsule member's volumes are its capsule's disks (CapsuleService).
  if (d_.volumes && !c->capsule_id) ZUNVM_RETURN_IF_ERROR(d_.volumes->AddTo(*c, spec));
  return spec;
}

Result<SandboxInfo> ContainerLifecycle::MakeSandbox(const std::string& uuid) {
  auto spec = PrepareSpec(uuid);
  if (!spec) return Err(OrFail(uuid, spec.error()));
  auto info = d_.driver->Create(*spec);
  if (!info) return Err(OrFail(uuid, info.error()));
  auto r = d_.records->Mutate(uuid, [&](Container& rec) -> Status {
    rec.container_id = info->sandbox_id;
    if (!info->hostname.empty()) rec.hostname = info->hostname;
    if (!info->guest_kernel.empty()) rec.guest_kernel = info->guest_kernel;
    return Status::Ok();
  });
  if (!r) return Err(r.error());
  return info;
}

Status ContainerLifecycle::Create(const std::string& uuid, bool run) {
  Status st = CreateSteps(uuid, run);
  Count(run ? "run" : "create", st);
  if (!st.ok() || !run) return st;
  if (auto c = d_.records->Get(uuid); c && c->status == ContainerStatus::kRunning) {
    CreateToRunning().Observe({RuntimeOf(*c)}, std::chrono::duration<double>(d_.clock->Now() - c->created_at).count());
  }
  return st;
}

Status ContainerLifecycle::CreateSteps(const std::string& uuid, bool run) {
  ZUNVM_RETURN_IF_ERROR(SetTask(uuid, TaskState::kCreating));
  auto info = MakeSandbox(uuid);
  if (!info) return info.error();
  Failpoint("create.sandbox_made");
  ZUNVM_RETURN_IF_ERROR(Done(d_.records->Mutate(uuid, [&](Container& rec) -> Status {
    rec.status = ContainerStatus::kCreated;
    rec.status_reason.reset();
    rec.task_state = run ? std::optional<TaskState>(TaskState::kStarting) : std::nullopt;
    return Status::Ok();
  })));
  Failpoint("create.recorded");
  return run ? Start(uuid) : Status::Ok();
}

Status ContainerLifecycle::Start(const std::string& uuid) {
  auto c = d_.records->Get(uuid);
  if (!c) return c.error();
  if (!c->container_id) {
    auto made = MakeSandbox(uuid);  // a failed create left no sandbox
    if (!made) return made.error();
  }
  ZUNVM_RETURN_IF_ERROR(OrFail(uuid, d_.driver->Start(uuid)));
  Failpoint("start.driver_started");
  return Done(d_.records->Mutate(uuid, [&](Container& rec) -> Status {
    rec.status = ContainerStatus::kRunning;
    rec.status_reason.reset();
    rec.task_state.reset();
    rec.started_at = d_.clock->Now();
    rec.health.reset();
    rec.exit_code.reset();
    rec.manually_stopped = false;
    return Status::Ok();
  }));
}

Status ContainerLifecycle::Stop(const std::string& uuid, int timeout) {
  const auto t0 = std::chrono::steady_clock::now();
  auto code = d_.driver->Stop(uuid, std::chrono::seconds(timeout));
  Count("stop", code ? Status::Ok() : code.error());
  if (!code) return OrFail(uuid, code.error());
  Failpoint("stop.driver_stopped");
  if (auto c = d_.records->Get(uuid)) {
    StopSeconds().Observe({RuntimeOf(*c)}, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  Exited(uuid, *code, /*manual=*/true);
  return Status::Ok();
}

Status ContainerLifecycle::Reboot(const std::string& uuid, int timeout) {
  ZUNVM_RETURN_IF_ERROR(OrFail(uuid, RebootSteps(uuid, timeout)));
  return Start(uuid);
}

// Ends the running process (unpausing first); a vanished sandbox is made again by the start.
Status ContainerLifecycle::RebootSteps(const std::string& uuid, int timeout) {
  auto info = d_.driver->Inspect(uuid);
  if (!info && !IsNotFound(info.error())) return info.error();
  if (!info) {
    return Done(d_.records->Mutate(uuid, [](Container& rec) -> Status {
      rec.container_id.reset();
      return Status::Ok();
    }));
  }
  if (info->state != SandboxState::kRunning && info->state != SandboxState::kPaused) return Status::Ok();
  if (info->state == SandboxState::kPaused) ZUNVM_RETURN_IF_ERROR(d_.driver->Unpause(uuid));
  auto code = d_.driver->Stop(uuid, std::chrono::seconds(timeout));
  return code ? Status::Ok() : code.error();
}

Status ContainerLifecycle::Pause(const std::string& uuid, bool pause) {
  Status st = pause ? d_.driver->Pause(uuid) : d_.driver->Unpause(uuid);
  if (!st.ok()) {
    // The sandbox refused (e.g. the process just exited): keep the record truthful.
    (void)SetTask(uuid, std::nullopt);
    Settle(uuid);
    return st;
  }
  return Done(d_.records->Mutate(uuid, [&](Container& rec) -> Status {
    rec.status = pause ? ContainerStatus::kPaused : ContainerStatus::kRunning;
    rec.task_state.reset();
    return Status::Ok();
  }));
}

Status ContainerLifecycle::Kill(const std::string& uuid, int signal) {
  ZUNVM_RETURN_IF_ERROR(Done(d_.records->Mutate(uuid, [](Container& rec) -> Status {
    rec.manually_stopped = true;
    return Status::Ok();
  })));
  Status st = d_.driver->Kill(uuid, signal);
  Status done = SetTask(uuid, std::nullopt);
  return st.ok() ? done : st;
}

Status ContainerLifecycle::Rebuild(const std::string& uuid, const std::optional<std::string>& image) {
  auto info = d_.driver->Inspect(uuid);
  bool was_running = info && info->state == SandboxState::kRunning;
  ZUNVM_RETURN_IF_ERROR(OrFail(uuid, d_.driver->Delete(uuid, /*force=*/true)));
  Failpoint("rebuild.sandbox_deleted");
  // A rebuild starts again from the image: the old writable layer goes.
  if (d_.images) d_.images->RemoveContainerDisk(uuid);
  ZUNVM_RETURN_IF_ERROR(Done(d_.records->Mutate(uuid, [&](Container& rec) -> Status {
    if (image) rec.image = *image;
    rec.container_id.reset();
    return Status::Ok();
  })));
  auto made = MakeSandbox(uuid);
  if (!made) return made.error();
  Failpoint("rebuild.sandbox_made");
  ZUNVM_RETURN_IF_ERROR(Done(d_.records->Mutate(uuid, [&](Container& rec) -> Status {
    rec.status = ContainerStatus::kCreated;
    rec.status_reason.reset();
    rec.exit_code.reset();
    rec.task_state = was_running ? std::optional<TaskState>(TaskState::kStarting) : std::nullopt;
    return Status::Ok();
  })));
  return was_running ? Start(uuid) : Status::Ok();
}

Status ContainerLifecycle::Delete(const std::string& uuid, bool force, bool stop) {
  if (stop) {
    auto info = d_.driver->Inspect(uuid);
    if (info && info->state == SandboxState::kRunning) {
      auto code = d_.driver->Stop(uuid, std::chrono::seconds(10));
      if (!code) return OrFail(uuid, code.error());
    }
  }
  ZUNVM_RETURN_IF_ERROR(OrFail(uuid, d_.driver->Delete(uuid, force || stop)));
  Failpoint("delete.sandbox_deleted");
  (void)d_.logs->Remove(uuid);
  if (d_.images) d_.images->RemoveContainerDisk(uuid);
  Failpoint("delete.disk_removed");
  d_.records->DropPorts(uuid);
  d_.networking->Release(uuid);
  if (d_.volumes) d_.volumes->Release(uuid);
  return d_.records->Remove(uuid);
}

Status ContainerLifecycle::Resize(const std::string& uuid, const ContainerPatch& patch) {
  auto c = d_.records->Get(uuid);
  if (!c) return c.error();
  std::optional<bool> live;
  if (c->container_id) {
    auto applied = d_.driver->Update(uuid, patch.cpu.value_or(c->cpu), patch.memory.value_or(c->memory));
    if (!applied) return applied.error();
    live = *applied;
  }
  return Done(d_.records->Mutate(uuid, [&](Container& rec) -> Status {
    if (patch.cpu) rec.cpu = *patch.cpu;
    if (patch.memory) rec.memory = *patch.memory;
    if (live) rec.status_reason = LimitsNote(*live);
    return Status::Ok();
  }));
}

void ContainerLifecycle::Exited(const std::string& uuid, int exit_code, bool manual) {
  bool restart = false;
  bool remove = false;
  int backoff_exp = 0;
  auto r = d_.records->Mutate(uuid, [&](Container& c) {
    bool live = c.status == ContainerStatus::kRunning || c.status == ContainerStatus::kPaused ||
                c.task_state.has_value();
    if (!live && !manual) return Status::Conflict("stale exit");  // already handled
    manual = manual || c.manually_stopped;
    c.status = ContainerStatus::kStopped;
    c.health.reset();
    c.exit_code = exit_code;
    c.finished_at = d_.clock->Now();
    c.task_state.reset();
    c.manually_stopped = manual;
    const std::string& policy = c.restart_policy.name;
    if (!manual) {
      if (policy == "always" || policy == "unless-stopped") restart = true;
      if (policy == "on-failure" && exit_code != 0 && c.restart_count < c.restart_policy.max_retry) {
        restart = true;
      }
    }
    if (restart) {
      c.status = ContainerStatus::kRestarting;
      backoff_exp = std::min(c.restart_count, 7);
    } else if (c.auto_remove) {
      remove = true;
      c.status = ContainerStatus::kDeleting;
      c.task_state = TaskState::kDeleting;
    }
    return Status::Ok();
  });
  if (!r) return;
  if (restart) {
    // Docker-like back-off: 100 ms doubling per restart, at most 12.8 s.
    d_.clock->PostAfter(*d_.executor, std::chrono::milliseconds(100 << backoff_exp), uuid,
                        [this, uuid] { PolicyRestart(uuid); });
  } else if (remove) {
    Status st = Delete(uuid, /*force=*/true, /*stop=*/false);
    if (!st.ok()) Logger("service")->warn("auto_remove of {} failed: {}", uuid, st.ToString());
  } else if (exit_observer_) {
    exit_observer_(uuid);
  }
}

void ContainerLifecycle::PolicyRestart(const std::string& uuid) {
  auto c = d_.records->Get(uuid);
  if (!c || c->status != ContainerStatus::kRestarting) return;  // deleted or changed meanwhile
  if (!OrFail(uuid, d_.driver->Start(uuid)).ok()) {
    if (exit_observer_) exit_observer_(uuid);
    return;
  }
  (void)d_.records->Mutate(uuid, [&](Container& rec) -> Status {
    rec.status = ContainerStatus::kRunning;
    rec.started_at = d_.clock->Now();
    rec.health.reset();
    rec.restart_count += 1;
    rec.exit_code.reset();
    return Status::Ok();
  });
}

void ContainerLifecycle::Settle(const std::string& uuid) {
  auto c = d_.records->Get(uuid);
  if (!c || c->task_state || !c->container_id) return;
  if (c->status == ContainerStatus::kCreating || c->status == ContainerStatus::kDeleting ||
      c->status == ContainerStatus::kError) {
    return;
  }
  auto info = d_.driver->Inspect(uuid);
  if (!info) {
    if (!IsNotFound(info.error())) return;  // backend unreachable: try again next sync
    if (c->auto_remove) {
      (void)Delete(uuid, true, false);
    } else if (c->auto_heal) {
      (void)Rebuild(uuid, std::nullopt);
    } else {
      Fail(uuid, Status::NotFound("No such sandbox: " + *c->container_id));
    }
    return;
  }
  switch (info->state) {
    case SandboxState::kRunning:
    case SandboxState::kPaused: {
      ContainerStatus want = info->state == SandboxState::kRunning ? ContainerStatus::kRunning : ContainerStatus::kPaused;
      if (c->status != want && c->status != ContainerStatus::kRestarting) {
        (void)d_.records->Mutate(uuid, [&](Container& rec) -> Status {
          rec.status = want;
          return Status::Ok();
        });
      }
      break;
    }
    case SandboxState::kStopped:
      if (c->status == ContainerStatus::kRunning || c->status == ContainerStatus::kPaused) {
        Exited(uuid, info->exit_code.value_or(0), false);
      }
      break;
    case SandboxState::kCreated:
      break;
  }
}

}  // namespace zunvm
