// Container actions: the history `appcontainer action list/show` shows. One action per API
// request that changes a container; each has events (the compute steps, e.g.
// "compute__do_container_start") with a result "Success" or "Error".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/timefmt.h"

namespace zunvm {

struct ActionEvent {
  std::string event;
  TimePoint start_time{};
  std::optional<TimePoint> finish_time;
  std::optional<std::string> result;
  std::optional<std::string> traceback;
};

struct ContainerAction {
  int64_t id = 0;
  std::string action;
  std::string container_uuid;
  std::string request_id;
  std::string user_id;
  std::string project_id;
  TimePoint start_time{};
  std::optional<TimePoint> finish_time;
  std::optional<std::string> message;
  std::vector<ActionEvent> events;
};

}  // namespace zunvm
