// ContainerStore: container records in SQLite. Indexed columns carry what lists filter and
// sort on; the whole record is kept as JSON in `data`.
//
// Insert and Update are group-committed (Database::Write): durable when they return, sharing
// COMMITs with concurrent writers.
//
// Thread safety: thread-safe (through Database, and a mutex for the record cache). Callers
// serialise writes to one container (the service's per-container lock), so Update is
// last-writer-wins by design.
//
// Reads keep the last parsed record per row: a row whose `data` is byte for byte what was
// parsed before is not parsed again (lists and shows of unchanged containers cost a compare,
// not a JSON parse). Each distinct parse gets a new Container::revision.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <optional>
#include <string>
#include <vector>

#include "db/database.h"
#include "model/container.h"
#include "model/list_query.h"

namespace zunvm {

// Where ContainerStore's Insert and Update keep a container's name unique (ignoring ASCII case):
// nowhere, in its project, or among all containers. The check runs in the write's own
// transaction, so two concurrent writes cannot both take a free name.
struct ContainerNameScope {
  bool unique = false;
  bool in_project = false;  // with `unique`: only the container's project counts
};

class ContainerStore {
 public:
  explicit ContainerStore(Database* db) : db_(db) {}

  // For a record without a name: returns one, asking `taken` (which reads inside the insert's
  // transaction; it may throw a database error, which fails the insert).
  using NamePicker = std::function<std::string(const std::function<bool(const std::string&)>& taken)>;

  // Inserts and sets c.id (and c.name, from `pick`, when it is empty). Conflict if the uuid
  // exists or, per `names`, the name is taken ("A container with name … already exists.").
  // `with` runs on the connection after the insert, in its transaction: what it writes commits
  // with the record or not at all (it may throw, which fails the insert).
  Status Insert(Container& c, ContainerNameScope names = {}, const NamePicker& pick = nullptr,
                const std::function<void(SQLite::Database&)>& with = nullptr);
  // Replaces the record with this uuid. NotFound if it is gone; Conflict as in Insert.
  Status Update(const Container& c, ContainerNameScope names = {});
  Result<Container> Get(const std::string& uuid);
  Result<std::vector<Container>> FindByName(const std::string& name);
  // Conflict when another container has c's name in `names`' scope, as Insert and Update
  // would answer; read outside any write, so a caller can refuse before doing anything
  // irreversible (the write checks again).
  Status NameFree(const Container& c, ContainerNameScope names);
  // InvalidArgument for a query that fails ListQuery::Validate; NotFound for an unknown marker.
  // The records are shared with the store's cache: read-only, and cheap to list.
  Result<ContainerList> List(const ListQuery& q);
  Result<std::vector<Container>> All();
  // Every container (capsule members too) with this status, shared as List's records are.
  Result<ContainerList> WithStatus(ContainerStatus status);
  // Removes the record and its action history. Deleting a missing record is OK.
  Status Delete(const std::string& uuid);

 private:
  static constexpr size_t kCachedRecords = 4096;  // then the cache starts over
  struct Cached {
    std::string data;  // the row's `data` as parsed
    std::shared_ptr<const Container> record;
  };
  // A row of (id, data) as a record: from the cache when `data` is unchanged.
  std::shared_ptr<const Container> Shared(SQLite::Statement& q);
  Container Row(SQLite::Statement& q) { return *Shared(q); }

  Database* db_;  // not owned
  std::mutex cache_mu_;
  std::unordered_map<int64_t, Cached> cache_;  // by row id
  uint64_t next_revision_ = 1;
};

}  // namespace zunvm
