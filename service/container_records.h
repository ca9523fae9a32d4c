// ContainerRecords: the containers' records and their action history, with the one mutex
// under which a record is read, changed and written back. Every change passes Mutate, which
// stamps updated_at and has the published ports follow the new status before anyone can see
// it (a reader that sees Running finds them published; Stopped, released).
//
// Thread safety: thread-safe; `mu_` is never held across a driver call.
// Errors: the stores' errors with Zun's names (ContainerNotFound, MarkerNotFound,
// ContainerActionNotFound).
#pragma once

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
  // Read-modify-write of one record; an error from `fn` leaves it as it was. A new name that
  // another container in the name scope has is Conflict (ContainerAlreadyExists).
  Result<Container> Mutate(const std::string& uuid, const Mutator& fn);
  // Stores a new record, drawing a name when it has none: Conflict when its uuid is taken, its
  // name is taken in the name scope,
  // or a host port it asks for is another's; `admit` (under the lock, may change `c`) has the
  // last word before the insert.
  Status Insert(Container& c, const Mutator& admit);
  // Conflict when c's name is another's in the name scope (Mutate checks again under its lock;
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
  // Has `rec`'s published ports follow its status; true when `rec` changed. Needs mu_.
  bool ApplyPorts(Container& rec);
  // Conflict when a container other than `c` has c's name (ignoring case) in the name scope
  // (c's project, or all). Needs mu_.
  Status CheckNameFree(const Container& c);

  ContainerStore* store_;
  ActionStore* actions_;
  PortBindings* ports_;
  Clock* clock_;
  std::string name_scope_;
  std::mutex mu_;
};

}  // namespace zunvm
