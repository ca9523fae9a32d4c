// ContainerStore: container records in SQLite. Indexed columns carry what lists filter and
// sort on; the whole record is kept as JSON in `data`.
//
// Thread safety: thread-safe (through Database). Callers serialise writes to one container
// (the service's per-container lock), so Update is last-writer-wins by design.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "db/database.h"
#include "model/container.h"
#include "model/list_query.h"

namespace zunvm {

class ContainerStore {
 public:
  explicit ContainerStore(Database* db) : db_(db) {}

  // Inserts and sets c.id. Conflict if the uuid exists.
  Status Insert(Container& c);
  // Replaces the record with this uuid. NotFound if it is gone.
  Status Update(const Container& c);
  Result<Container> Get(const std::string& uuid);
  Result<std::vector<Container>> FindByName(const std::string& name);
  // Whether a container other than `except_uuid` has this name, ignoring ASCII case (container
  // names are ASCII), in `project` or, without one, anywhere.
  Result<bool> NameTaken(const std::string& name, const std::optional<std::string>& project,
                         const std::string& except_uuid);
  // InvalidArgument for a query that fails ListQuery::Validate; NotFound for an unknown marker.
  Result<std::vector<Container>> List(const ListQuery& q);
  Result<std::vector<Container>> All();
  // Removes the record and its action history. Deleting a missing record is OK.
  Status Delete(const std::string& uuid);

 private:
  Database* db_;  // not owned
};

}  // namespace zunvm
