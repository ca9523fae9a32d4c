// HealthMonitor: runs the containers' healthchecks that are due, on the injected Clock.
// Docker's rules: a check is `sh -c <test>` in the container; `retries` failures in a row make
// a Running container unhealthy (until then it stays `starting`, or `healthy` once one check
// passed); with auto_heal an unhealthy container is rebooted. Docker's defaults for what the
// request left at 0: every 30 s, 30 s timeout, 3 retries.
//
// Thread safety: Check() is called from one thread (about once a second in the daemon; tests
// call it after moving a ManualClock on); a check blocks that thread for at most its timeout.
#pragma once

#include <map>
#include <string>

#include "common/clock.h"
#include "driver/driver.h"
#include "service/container_lifecycle.h"
#include "service/container_records.h"

namespace zunvm {

class HealthMonitor {
 public:
  // Nothing owned.
  HealthMonitor(ContainerRecords* records, ContainerLifecycle* lifecycle, SandboxDriver* driver, Clock* clock)
      : records_(records), lifecycle_(lifecycle), driver_(driver), clock_(clock) {}

  void Check();

 private:
  struct State {
    TimePoint next;
    int failures = 0;
  };
  ContainerRecords* records_;
  ContainerLifecycle* lifecycle_;
  SandboxDriver* driver_;
  Clock* clock_;
  std::map<std::string, State> states_;  // only touched by Check's thread
};

}  // namespace zunvm
