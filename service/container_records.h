// ContainerRecords: the containers' records and their action history. A record is read,
// changed and written back under its uuid's lock (one of a fixed set of stripes), so writes to
// different containers run side by side and share their commits (Database::Write); a name's
// uniqueness is checked inside the write's own transaction. Every change passes Mutate, which
// stamps updated_at and has the published ports follow the new status before anyone can see
// it (a reader that sees Running finds them published; Stopped, released).
//
// Thread safety: thread-safe; no lock is held across a driver call. Lock order: `ports_mu_`,
// then a stripe; a stripe is never held while taking another.
// Errors: the stores' errors with Zun's names (ContainerNotFound, MarkerNotFound,
// ContainerActionNotFound).
#pragma once

#include <array>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "db/action_store.h"
#include "db/container_store.h"
#include "model/action.h"
#include "model/container.h"
#include "model/list_query.h"
#include "model/request_context.h"

namespace zunvm {

class PortBindings;

class ContainerRecords {
 public:
  using Mutator = std::function<Status(Container&)>;
  // Nothing owned; `ports` may be null (nothing is published). `name_scope` is Config's
  // unique_container_name_scope ("project", "global" or "": names need not be unique).
  ContainerRecords(ContainerStore* store, ActionStore* actions, PortBindings* ports, Clock* clock,
                   std::string name_scope = "")
      : store_(store), actions_(actions), ports_(ports), clock_(clock), name_scope_(std::move(name_scope)) {}

  TimePoint Now() const { return clock_->Now(); }
  Result<Container> Get(const std::string& uuid);
  // uuid or name: NotFound, or Conflict when a name is ambiguous. With a `scope` that is not
  // all_projects, only its project's containers are found (others' are NotFound, as in Zun).
  Result<Container> Lookup(const std::string& ident, const RequestContext* scope = nullptr);
  Result<ContainerList> List(const ListQuery& q);
  Result<std::vector<Container>> All() { return store_->All(); }
  Result<ContainerList> Running() { return store_->WithStatus(ContainerStatus::kRunning); }
  // Read-modify-write of one record; an error from `fn` leaves it as it was. A new name that
  // another container in the name scope has is Conflict (ContainerAlreadyExists).
  Result<Container> Mutate(const std::string& uuid, const Mutator& fn);
  // Stores a new record, drawing a name when it has none: Conflict when its uuid is taken, its
  // name is taken in the name scope, or a host port it asks for is another's; `admit` (under
  // c's lock, may change `c`; concurrent with other containers' inserts) has the last word
  // before the insert. With `ctx`, the "create" action is recorded in the same commit (its id
  // in `*action_id`, for FinishAction).
  Status Insert(Container& c, const Mutator& admit, const RequestContext* ctx = nullptr, int64_t* action_id = nullptr);
  // Conflict when c's name is another's in the name scope (Mutate checks again in its write;
  // this lets a caller refuse before doing anything irreversible).
  Status NameFree(const Container& c);
  Status Remove(const std::string& uuid);
  // Publishes the stored record's ports as its status says (containers no Mutate touches:
  // those adopted at start), and forgets them for good (delete).
  void SyncPorts(const std::string& uuid);
  void DropPorts(const std::string& uuid);

  // The action history: an id to finish (0 when it could not be recorded, which is logged).
  int64_t StartAction(const RequestContext& ctx, const std::string& uuid, const std::string& action);
  void FinishAction(int64_t action_id, const Status& st);
  Result<std::vector<ContainerAction>> Actions(const std::string& uuid) { return actions_->List(uuid); }
  Result<ContainerAction> Action(const std::string& uuid, const std::string& request_id);

 private:
  static constexpr size_t kStripes = 32;
  ContainerAction NewAction(const RequestContext& ctx, const std::string& uuid, const std::string& action) const;
  // The lock of the record with this uuid.
  std::mutex& Lock(const std::string& uuid);
  // Has `rec`'s published ports follow its status; true when `rec` changed. Needs rec's lock.
  bool ApplyPorts(Container& rec);
  ContainerNameScope Names() const { return {!name_scope_.empty(), name_scope_ == "project"}; }

  ContainerStore* store_;
  ActionStore* actions_;
  PortBindings* ports_;
  Clock* clock_;
  std::string name_scope_;
  std::mutex ports_mu_;  // creates that ask for ports: check and insert as one
  std::array<std::mutex, kStripes> stripes_;
};

}  // namespace zunvm
