// ContainerService worker steps, driver events, restart policy and reconciliation. Every
// function here runs on the SerialExecutor under the container's uuid (one at a time per
// container), except the DriverEvents callbacks, which only queue work.
#include <algorithm>

#include "common/ids.h"
#include "common/logging.h"
#include "service/container_service.h"
#include "service/image_service.h"
#include "service/network_service.h"
#include "service/port_bindings.h"

namespace zunvm {

namespace {
bool IsNotFound(const Status& st) { return st.code() == Code::kNotFound; }
}  // namespace

void ContainerService::Fail(const std::string& uuid, const Status& st) {
  auto r = Mutate(uuid, [&](Container& c) {
    c.status = ContainerStatus::kError;
    c.status_reason = st.message();
    c.task_state.reset();
    return Status::Ok();
  });
  if (!r && !IsNotFound(r.error())) {
    Logger("service")->error("cannot record failure of {}: {}", uuid, r.error().ToString());
  }
}

Result<SandboxSpec> ContainerService::PrepareCreate(const std::string& uuid) {
  auto spec = PrepareImage(uuid);
  if (!spec || !networks_) return spec;
  auto nics = networks_->NicsOf(uuid);
  if (!nics) return Err(nics.error());
  spec->nics = *nics;
  spec->resolv_conf = networks_->ResolvConf(*nics);
  return spec;
}

Result<SandboxSpec> ContainerService::PrepareImage(const std::string& uuid) {
  auto c = store_->Get(uuid);
  if (!c) return Err(c.error());
  if (!images_ || !driver_->UsesImages()) return SpecFor(*c);
  std::string policy = c->image_pull_policy.value_or("ifnotpresent");
  auto img = images_->Find(c->image);
  if (!img && img.error().code() != Code::kNotFound) return Err(img.error());
  if (policy == "always" || (!img && policy != "never")) {
    auto pulling = Mutate(uuid, [](Container& rec) -> Status {
      rec.task_state = TaskState::kImagePulling;
      return Status::Ok();
    });
    if (!pulling) return Err(pulling.error());
    auto pulled = images_->Pull(c->image);
    if (!pulled && !img) return Err(pulled.error());  // `always` with a local copy: use it
    if (pulled) {
      bool fresh = !img;
      img = pulled;
      if (fresh) {
        auto applied = Mutate(uuid, [&](Container& rec) -> Status {
          ImageService::ApplyDefaults(*img, rec, rec.entrypoint.has_value());
          return Status::Ok();
        });
        if (!applied) return Err(applied.error());
        c = *applied;
      }
    }
    auto creating = Mutate(uuid, [](Container& rec) -> Status {
      rec.task_state = TaskState::kCreating;
      return Status::Ok();
    });
    if (!creating) return Err(creating.error());
  }
  if (!img) return Err(img.error());
  auto disk = images_->RootfsDisk(*img);
  if (!disk) return Err(disk.error());
  auto upper = images_->ContainerDisk(uuid, c->disk.value_or(cfg_.default_disk));
  if (!upper) return Err(upper.error());
  SandboxSpec spec = SpecFor(*c);
  spec.image_disk = *disk;
  spec.upper_disk = *upper;
  if (spec.user.empty()) spec.user = img->config.value("user", "");  // the image's USER
  return spec;
}

Status ContainerService::DoCreate(const std::string& uuid, bool run) {
  auto c = Mutate(uuid, [](Container& rec) -> Status {
    rec.task_state = TaskState::kCreating;
    return Status::Ok();
  });
  if (!c) return c.error();
  auto spec = PrepareCreate(uuid);
  if (!spec) {
    Fail(uuid, spec.error());
    return spec.error();
  }
  auto info = driver_->Create(*spec);
  if (!info) {
    Fail(uuid, info.error());
    return info.error();
  }
  auto created = Mutate(uuid, [&](Container& rec) -> Status {
    rec.status = ContainerStatus::kCreated;
    rec.status_reason.reset();
    rec.container_id = info->sandbox_id;
    if (!info->hostname.empty()) rec.hostname = info->hostname;
    rec.task_state = run ? std::optional<TaskState>(TaskState::kStarting) : std::nullopt;
    return Status::Ok();
  });
  if (!created) return created.error();
  if (!run) return Status::Ok();
  return DoStart(uuid);
}

Status ContainerService::DoStart(const std::string& uuid) {
  auto c = store_->Get(uuid);
  if (!c) return c.error();
  if (!c->container_id) {
    // A failed create left no sandbox: make one first.
    auto spec = PrepareCreate(uuid);
    if (!spec) {
      Fail(uuid, spec.error());
      return spec.error();
    }
    auto info = driver_->Create(*spec);
    if (!info) {
      Fail(uuid, info.error());
      return info.error();
    }
    auto r = Mutate(uuid, [&](Container& rec) -> Status {
      rec.container_id = info->sandbox_id;
      return Status::Ok();
    });
    if (!r) return r.error();
  }
  Status st = driver_->Start(uuid);
  if (!st.ok()) {
    Fail(uuid, st);
    return st;
  }
  auto r = Mutate(uuid, [&](Container& rec) -> Status {
    rec.status = ContainerStatus::kRunning;
    rec.status_reason.reset();
    rec.task_state.reset();
    rec.started_at = clock_();
    rec.health.reset();
    rec.exit_code.reset();
    rec.manually_stopped = false;
    return Status::Ok();
  });
  return r ? Status::Ok() : r.error();
}

Status ContainerService::DoStop(const std::string& uuid, int timeout) {
  auto code = driver_->Stop(uuid, std::chrono::seconds(timeout));
  if (!code) {
    Fail(uuid, code.error());
    return code.error();
  }
  HandleExit(uuid, *code, /*manual=*/true);
  return Status::Ok();
}

Status ContainerService::DoReboot(const std::string& uuid, int timeout) {
  auto info = driver_->Inspect(uuid);
  if (info && (info->state == SandboxState::kRunning || info->state == SandboxState::kPaused)) {
    if (info->state == SandboxState::kPaused) {
      Status st = driver_->Unpause(uuid);
      if (!st.ok()) {
        Fail(uuid, st);
        return st;
      }
    }
    auto code = driver_->Stop(uuid, std::chrono::seconds(timeout));
    if (!code) {
      Fail(uuid, code.error());
      return code.error();
    }
  } else if (!info && !IsNotFound(info.error())) {
    Fail(uuid, info.error());
    return info.error();
  } else if (!info) {
    auto r = Mutate(uuid, [](Container& rec) -> Status {
      rec.container_id.reset();
      return Status::Ok();
    });
    if (!r) return r.error();
  }
  return DoStart(uuid);
}

Status ContainerService::DoPause(const std::string& uuid, bool pause) {
  Status st = pause ? driver_->Pause(uuid) : driver_->Unpause(uuid);
  if (!st.ok()) {
    // The sandbox refused (e.g. the process just exited): keep the record truthful.
    auto r = Mutate(uuid, [](Container& rec) -> Status {
      rec.task_state.reset();
      return Status::Ok();
    });
    Reconcile(uuid);
    return st;
  }
  auto r = Mutate(uuid, [&](Container& rec) -> Status {
    rec.status = pause ? ContainerStatus::kPaused : ContainerStatus::kRunning;
    rec.task_state.reset();
    return Status::Ok();
  });
  return r ? Status::Ok() : r.error();
}

Status ContainerService::DoKill(const std::string& uuid, int signal) {
  auto r = Mutate(uuid, [](Container& rec) -> Status {
    rec.manually_stopped = true;
    return Status::Ok();
  });
  if (!r) return r.error();
  Status st = driver_->Kill(uuid, signal);
  auto done = Mutate(uuid, [](Container& rec) -> Status {
    rec.task_state.reset();
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return done ? Status::Ok() : done.error();
}

Status ContainerService::DoRebuild(const std::string& uuid,
                                   const std::optional<std::string>& image) {
  auto info = driver_->Inspect(uuid);
  bool was_running = info && info->state == SandboxState::kRunning;
  Status st = driver_->Delete(uuid, /*force=*/true);
  if (!st.ok()) {
    Fail(uuid, st);
    return st;
  }
  // A rebuild starts again from the image: the old writable layer goes.
  if (images_) images_->RemoveContainerDisk(uuid);
  auto c = Mutate(uuid, [&](Container& rec) -> Status {
    if (image) rec.image = *image;
    rec.container_id.reset();
    return Status::Ok();
  });
  if (!c) return c.error();
  auto spec = PrepareCreate(uuid);
  if (!spec) {
    Fail(uuid, spec.error());
    return spec.error();
  }
  auto created = driver_->Create(*spec);
  if (!created) {
    Fail(uuid, created.error());
    return created.error();
  }
  auto r = Mutate(uuid, [&](Container& rec) -> Status {
    rec.container_id = created->sandbox_id;
    rec.status = ContainerStatus::kCreated;
    rec.status_reason.reset();
    rec.exit_code.reset();
    rec.task_state = was_running ? std::optional<TaskState>(TaskState::kStarting) : std::nullopt;
    return Status::Ok();
  });
  if (!r) return r.error();
  return was_running ? DoStart(uuid) : Status::Ok();
}

Status ContainerService::DoDelete(const std::string& uuid, bool force, bool stop) {
  if (stop) {
    auto info = driver_->Inspect(uuid);
    if (info && info->state == SandboxState::kRunning) {
      auto code = driver_->Stop(uuid, std::chrono::seconds(10));
      if (!code) {
        Fail(uuid, code.error());
        return code.error();
      }
    }
  }
  Status st = driver_->Delete(uuid, force || stop);
  if (!st.ok()) {
    Fail(uuid, st);
    return st;
  }
  (void)logs_->Remove(uuid);
  if (images_) images_->RemoveContainerDisk(uuid);
  if (ports_) ports_->Drop(uuid);
  if (networks_) {
    Status released = networks_->ReleaseContainer(uuid);
    if (!released.ok()) Logger("service")->warn("addresses of {}: {}", uuid, released.ToString());
  }
  std::lock_guard<std::mutex> lock(mu_);
  return store_->Delete(uuid);
}

Status ContainerService::DoUpdate(const std::string& uuid, const ContainerPatch& patch) {
  auto c = store_->Get(uuid);
  if (!c) return c.error();
  std::optional<bool> live;
  if (c->container_id) {
    auto applied = driver_->Update(uuid, patch.cpu.value_or(c->cpu), patch.memory.value_or(c->memory));
    if (!applied) return applied.error();
    live = *applied;
  }
  auto r = Mutate(uuid, [&](Container& rec) -> Status {
    if (patch.cpu) rec.cpu = *patch.cpu;
    if (patch.memory) rec.memory = *patch.memory;
    if (live) rec.status_reason = LimitsNote(*live);
    return Status::Ok();
  });
  return r ? Status::Ok() : r.error();
}

// Records an exit and applies the restart policy and auto_remove. `manual` is a stop by the
// user (stop, or an exit after kill), which never triggers a policy restart.
void ContainerService::HandleExit(const std::string& uuid, int exit_code, bool manual) {
  bool restart = false;
  bool remove = false;
  int backoff_exp = 0;
  auto r = Mutate(uuid, [&](Container& c) {
    bool live = c.status == ContainerStatus::kRunning || c.status == ContainerStatus::kPaused ||
                c.task_state.has_value();
    if (!live && !manual) return Status::Conflict("stale exit");  // already handled
    manual = manual || c.manually_stopped;
    c.status = ContainerStatus::kStopped;
    c.health.reset();
    c.exit_code = exit_code;
    c.finished_at = clock_();
    c.task_state.reset();
    c.manually_stopped = manual;
    const std::string& policy = c.restart_policy.name;
    if (!manual) {
      if (policy == "always" || policy == "unless-stopped") restart = true;
      if (policy == "on-failure" && exit_code != 0 &&
          c.restart_count < c.restart_policy.max_retry) {
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
    executor_->PostAfter(std::chrono::milliseconds(100 << backoff_exp), uuid,
                         [this, uuid] { PolicyRestart(uuid); });
  } else if (remove) {
    Status st = DoDelete(uuid, /*force=*/true, /*stop=*/false);
    if (!st.ok()) Logger("service")->warn("auto_remove of {} failed: {}", uuid, st.ToString());
  }
}

void ContainerService::PolicyRestart(const std::string& uuid) {
  auto c = store_->Get(uuid);
  if (!c || c->status != ContainerStatus::kRestarting) return;  // deleted or changed meanwhile
  Status st = driver_->Start(uuid);
  if (!st.ok()) {
    Fail(uuid, st);
    return;
  }
  auto r = Mutate(uuid, [&](Container& rec) -> Status {
    rec.status = ContainerStatus::kRunning;
    rec.started_at = clock_();
    rec.health.reset();
    rec.restart_count += 1;
    rec.exit_code.reset();
    return Status::Ok();
  });
  (void)r;
}

void ContainerService::OnOutput(const std::string& uuid, Stream stream, const std::string& data,
                                const OutputMark& mark) {
  Status st = logs_->Append(uuid, stream, data, clock_(), mark);
  if (!st.ok()) Logger("service")->warn("log of {}: {}", uuid, st.ToString());
}

void ContainerService::OnExit(const std::string& uuid, int exit_code) {
  executor_->Post(uuid, [this, uuid, exit_code] { HandleExit(uuid, exit_code, false); });
}

void ContainerService::OnLost(const std::string& uuid, const std::string& reason) {
  executor_->Post(uuid, [this, uuid, reason] { Fail(uuid, Status::Unavailable(reason)); });
}

// Brings one settled record in line with its sandbox: lost exits, a vanished sandbox.
void ContainerService::Reconcile(const std::string& uuid) {
  auto c = store_->Get(uuid);
  if (!c || c->task_state || !c->container_id) return;
  if (c->status == ContainerStatus::kCreating || c->status == ContainerStatus::kDeleting ||
      c->status == ContainerStatus::kError) {
    return;
  }
  auto info = driver_->Inspect(uuid);
  if (!info) {
    if (!IsNotFound(info.error())) return;  // backend unreachable: try again next sync
    if (c->auto_remove) {
      (void)DoDelete(uuid, true, false);
      return;
    }
    if (c->auto_heal) {
      (void)DoRebuild(uuid, std::nullopt);
      return;
    }
    Fail(uuid, Status::NotFound("No such sandbox: " + *c->container_id));
    return;
  }
  switch (info->state) {
    case SandboxState::kRunning:
    case SandboxState::kPaused: {
      ContainerStatus want = info->state == SandboxState::kRunning ? ContainerStatus::kRunning : ContainerStatus::kPaused;
      if (c->status != want && c->status != ContainerStatus::kRestarting) {
        (void)Mutate(uuid, [&](Container& rec) -> Status {
          rec.status = want;
          return Status::Ok();
        });
      }
      break;
    }
    case SandboxState::kStopped:
      if (c->status == ContainerStatus::kRunning || c->status == ContainerStatus::kPaused) {
        HandleExit(uuid, info->exit_code.value_or(0), false);
      }
      break;
    case SandboxState::kCreated:
      break;
  }
}

void ContainerService::SyncAll() {
  auto all = store_->All();
  if (!all) return;
  for (const auto& c : *all) {
    std::string uuid = c.uuid;
    executor_->Post(uuid, [this, uuid] { Reconcile(uuid); });
  }
}

Status ContainerService::Recover() {
  auto all = store_->All();
  if (!all) return all.error();
  auto sandboxes = driver_->List();
  if (!sandboxes) return sandboxes.error();
  // Sandboxes of ours without a record leak resources: remove them.
  for (const auto& s : *sandboxes) {
    bool known = std::any_of(all->begin(), all->end(),
                             [&](const Container& c) { return c.uuid == s.uuid; });
    if (!known) {
      Logger("service")->info("removing sandbox {} that has no record", s.uuid);
      (void)driver_->Delete(s.uuid, true);
      if (images_) images_->RemoveContainerDisk(s.uuid);
    }
  }
  for (const auto& c : *all) {
    std::string uuid = c.uuid;
    if (c.status == ContainerStatus::kDeleting) {
      executor_->Post(uuid, [this, uuid] { (void)DoDelete(uuid, true, false); });
    } else if (c.status == ContainerStatus::kCreating) {
      executor_->Post(uuid, [this, uuid] {
        (void)driver_->Delete(uuid, true);
        auto r = Mutate(uuid, [](Container& rec) -> Status {
          rec.container_id.reset();
          return Status::Ok();
        });
        (void)r;
        Fail(uuid, Status::Internal("zunvmd restarted while the container was being created"));
      });
    } else if (c.task_state || c.status == ContainerStatus::kRestarting ||
               c.status == ContainerStatus::kRebuilding) {
      // An operation was interrupted: settle to what the sandbox says.
      executor_->Post(uuid, [this, uuid] {
        auto info = driver_->Inspect(uuid);
        auto r = Mutate(uuid, [&](Container& rec) -> Status {
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
        (void)r;
      });
    } else {
      executor_->Post(uuid, [this, uuid] { Reconcile(uuid); });
    }
  }
  // Containers that run on (their VMs were adopted) are published again.
  for (const auto& c : *all) executor_->Post(c.uuid, [this, uuid = c.uuid] { SyncPorts(uuid); });
  return Status::Ok();
}

}  // namespace zunvm

namespace zunvm {

void ContainerService::CheckHealth() {
  auto all = store_->All();
  if (!all) return;
  TimePoint now = clock_();
  std::map<std::string, HealthState> next;
  for (const auto& c : *all) {
    if (!c.healthcheck || c.healthcheck->test.empty() || c.status != ContainerStatus::kRunning || c.task_state) continue;
    HealthState st = health_.count(c.uuid) ? health_[c.uuid] : HealthState{now, 0};
    // Docker's defaults for what the request left at 0: every 30 s, 30 s timeout, 3 retries.
    auto interval = std::chrono::seconds(c.healthcheck->interval > 0 ? c.healthcheck->interval : 30);
    int timeout = c.healthcheck->timeout > 0 ? c.healthcheck->timeout : 30;
    int retries = c.healthcheck->retries > 0 ? c.healthcheck->retries : 3;
    if (!c.health) {
      (void)Mutate(c.uuid, [](Container& rec) -> Status {
        rec.health = Health::kStarting;
        return Status::Ok();
      });
    }
    if (now < st.next) {
      next[c.uuid] = st;
      continue;
    }
    auto r = driver_->Exec(c.uuid, {"sh", "-c", c.healthcheck->test}, std::chrono::seconds(timeout));
    st.failures = r && r->exit_code == 0 ? 0 : st.failures + 1;
    st.next = clock_() + interval;
    Health health = st.failures == 0 ? Health::kHealthy
                    : st.failures >= retries ? Health::kUnhealthy
                                             : c.health.value_or(Health::kStarting);
    bool heal = false;
    auto updated = Mutate(c.uuid, [&](Container& rec) -> Status {
      if (rec.status != ContainerStatus::kRunning || rec.task_state) return Status::Conflict("changed meanwhile");
      rec.health = health;
      if (health == Health::kUnhealthy && rec.auto_heal) {
        heal = true;
        rec.status = ContainerStatus::kRestarting;
        rec.task_state = TaskState::kRebooting;
        rec.status_reason = "unhealthy: rebooted by auto_heal";
      }
      return Status::Ok();
    });
    if (!updated) continue;
    if (heal) {
      Logger("service")->info("container {} is unhealthy: rebooting it (auto_heal)", c.uuid);
      std::string uuid = c.uuid;
      RequestContext ctx{"req-" + NewUuid(), c.user_id, c.project_id};
      Queue(uuid, RecordAction(ctx, uuid, "reboot"), [this, uuid] { return DoReboot(uuid, 10); });
      st = HealthState{clock_() + interval, 0};
    }
    next[c.uuid] = st;
  }
  health_.swap(next);
}

}  // namespace zunvm
