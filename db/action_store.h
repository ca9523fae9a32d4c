// ActionStore: the container_actions history (`appcontainer action list/show`).
// One action per API request that changes a container; each has events (the compute steps,
// e.g. "compute__do_container_start") with a result "Success" or "Error".
// Start and Finish are group-committed (Database::Write). Thread safety: thread-safe (through
// Database).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/timefmt.h"
#include "db/database.h"
#include "model/action.h"

namespace zunvm {

class ActionStore {
 public:
  explicit ActionStore(Database* db) : db_(db) {}

  // Records the start of an action and its one event; returns the action id.
  Result<int64_t> Start(const ContainerAction& a, const std::string& event);
  // The same inside a caller's Database::Write on `conn` (another store's write that the
  // action belongs with); throws as SQLiteCpp does.
  int64_t StartIn(SQLite::Database& conn, const ContainerAction& a, const std::string& event);
  // Finishes the action and its event; `error` empty means success.
  Status Finish(int64_t action_id, TimePoint when, const std::string& error);
  // Newest first, like Zun.
  Result<std::vector<ContainerAction>> List(const std::string& uuid);
  // With its events. NotFound if unknown.
  Result<ContainerAction> Get(const std::string& uuid, const std::string& request_id);

 private:
  Database* db_;  // not owned
};

}  // namespace zunvm
