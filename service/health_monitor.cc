#include "service/health_monitor.h"

#include "common/ids.h"
#include "common/logging.h"

namespace zunvm {

void HealthMonitor::Check() {
  auto all = records_->Running();
  if (!all) return;
  TimePoint now = clock_->Now();
  std::map<std::string, State> next;
  for (const auto& shared : *all) {
    const Container& c = *shared;
    if (!c.healthcheck || c.healthcheck->test.empty() || c.task_state) continue;  // all Running
    State st = states_.count(c.uuid) ? states_[c.uuid] : State{now, 0};
    auto interval = std::chrono::seconds(c.healthcheck->interval > 0 ? c.healthcheck->interval : 30);
    int timeout = c.healthcheck->timeout > 0 ? c.healthcheck->timeout : 30;
    int retries = c.healthcheck->retries > 0 ? c.healthcheck->retries : 3;
    if (!c.health) {
      (void)records_->Mutate(c.uuid, [](Container& rec) -> Status {
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
    st.next = clock_->Now() + interval;
    Health health = st.failures == 0         ? Health::kHealthy
                    : st.failures >= retries ? Health::kUnhealthy
                                             : c.health.value_or(Health::kStarting);
    bool heal = false;
    auto updated = records_->Mutate(c.uuid, [&](Container& rec) -> Status {
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
      lifecycle_->Queue(uuid, records_->StartAction(ctx, uuid, "reboot"),
                        [this, uuid] { return lifecycle_->Reboot(uuid, 10); });
      st = State{clock_->Now() + interval, 0};
    }
    next[c.uuid] = st;
  }
  states_.swap(next);
}

}  // namespace zunvm
