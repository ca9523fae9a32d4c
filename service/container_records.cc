#include "service/container_records.h"

#include "common/ids.h"
#include "common/logging.h"
#include "service/port_bindings.h"
#include "service/zun_errors.h"

namespace zunvm {

Result<Container> ContainerRecords::Get(const std::string& uuid) {
  return Named(store_->Get(uuid), Code::kNotFound, "ContainerNotFound");
}

Result<Container> ContainerRecords::Lookup(const std::string& ident, const RequestContext* scope) {
  auto visible = [scope](const Container& c) { return !scope || scope->all_projects || c.project_id == scope->project_id; };
  if (IsUuidLike(ident)) {
    auto c = store_->Get(CanonicalUuid(ident));
    if (c && visible(*c)) return c;
    if (!c && c.error().code() != Code::kNotFound) return c;
  }
  auto found = store_->FindByName(ident);
  if (!found) return Err(found.error());
  std::erase_if(*found, [&](const Container& c) { return !visible(c); });
  if (found->empty()) {
    return Err(Status::NotFound("Container " + ident + " could not be found.", "ContainerNotFound"));
  }
  if (found->size() > 1) {
    return Err(Status::Conflict("Multiple containers exist with same name. Please use the container uuid instead.",
                                "Conflict"));
  }
  return found->front();
}

Result<ContainerList> ContainerRecords::List(const ListQuery& q) {
  return Named(store_->List(q), Code::kNotFound, "MarkerNotFound");
}

namespace {

// The one event of an action, as Zun's compute manager names it.
std::string EventOf(const std::string& action) { return "compute__do_container_" + action; }

}  // namespace

std::mutex& ContainerRecords::Lock(const std::string& uuid) {
  return stripes_[std::hash<std::string>{}(uuid) % kStripes];
}

Result<Container> ContainerRecords::Mutate(const std::string& uuid, const Mutator& fn) {
  std::lock_guard<std::mutex> lock(Lock(uuid));
  auto c = Get(uuid);
  if (!c) return c;
  std::string old_name = c->name;
  ZUNVM_RETURN_IF_ERROR(fn(*c));
  c->revision = 0;  // changed: no longer the stored record its revision names (views key on it)
  c->updated_at = clock_->Now();
  ApplyPorts(*c);
  Status st = store_->Update(*c, c->name != old_name ? Names() : ContainerNameScope{});
  if (!st.ok()) return Err(Named(Named(st, Code::kNotFound, "ContainerNotFound"), Code::kConflict, "ContainerAlreadyExists"));
  return c;
}

Status ContainerRecords::Insert(Container& c, const Mutator& admit, const RequestContext* ctx, int64_t* action_id) {
  // Whether a host port is free depends on the other records: such creates go one at a time.
  std::unique_lock<std::mutex> ports_lock(ports_mu_, std::defer_lock);
  if (ports_ && !c.exposed_ports.empty()) ports_lock.lock();
  std::lock_guard<std::mutex> lock(Lock(c.uuid));
  // Before admit: its network allocation is keyed by uuid, and a failed one releases the
  // uuid's addresses, which must never be another record's. Same-uuid inserts share a lock.
  if (store_->Get(c.uuid)) {
    return Status::Conflict("A container with UUID " + c.uuid + " already exists.", "ContainerAlreadyExists");
  }
  if (!c.name.empty()) ZUNVM_RETURN_IF_ERROR(NameFree(c));  // before admit's work; the insert checks again
  if (ports_) ZUNVM_RETURN_IF_ERROR(ports_->CheckCreate(c, [this] { return store_->All(); }));
  ZUNVM_RETURN_IF_ERROR(admit(c));
  // Zun's generated names (letter-number-container, 576 of them): a taken one is drawn again,
  // and when a few draws are all taken (a project with hundreds of unnamed containers) the
  // name gets the uuid's first 8 digits, rather than refusing a create that asked for no name.
  // Drawn in the insert's transaction, so concurrent creates cannot draw the same free name.
  auto pick = [&c](const std::function<bool(const std::string&)>& taken) {
    std::string name = GenerateContainerName();
    for (int i = 0; i < 3 && taken(name); ++i) name = GenerateContainerName();
    return taken(name) ? name + "-" + c.uuid.substr(0, 8) : name;
  };
  std::function<void(SQLite::Database&)> with;
  if (ctx && action_id) {
    with = [&](SQLite::Database& conn) {
      *action_id = actions_->StartIn(conn, NewAction(*ctx, c.uuid, "create"), EventOf("create"));
    };
  }
  return Named(store_->Insert(c, Names(), pick, with), Code::kConflict, "ContainerAlreadyExists");
}

Status ContainerRecords::NameFree(const Container& c) {
  return Named(store_->NameFree(c, Names()), Code::kConflict, "ContainerAlreadyExists");
}

Status ContainerRecords::Remove(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(Lock(uuid));
  return store_->Delete(uuid);
}

bool ContainerRecords::ApplyPorts(Container& rec) {
  if (!ports_) return false;
  std::string warning;
  nlohmann::json now = ports_->Sync(rec, &warning);
  if (now == rec.published_ports && warning.empty()) return false;
  rec.published_ports = now;
  if (!warning.empty()) rec.status_reason = warning;
  return true;
}

void ContainerRecords::SyncPorts(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(Lock(uuid));
  auto rec = store_->Get(uuid);
  if (!rec || !ApplyPorts(*rec)) return;
  Status st = store_->Update(*rec);
  if (!st.ok()) Logger("service")->warn("published ports of {}: {}", uuid, st.ToString());
}

void ContainerRecords::DropPorts(const std::string& uuid) {
  if (ports_) ports_->Drop(uuid);
}

ContainerAction ContainerRecords::NewAction(const RequestContext& ctx, const std::string& uuid,
                                            const std::string& action) const {
  ContainerAction a;
  a.action = action;
  a.container_uuid = uuid;
  a.request_id = ctx.request_id;
  a.user_id = ctx.user_id;
  a.project_id = ctx.project_id;
  a.start_time = clock_->Now();
  return a;
}

int64_t ContainerRecords::StartAction(const RequestContext& ctx, const std::string& uuid,
                                      const std::string& action) {
  auto id = actions_->Start(NewAction(ctx, uuid, action), EventOf(action));
  if (!id) {
    Logger("service")->warn("cannot record action {} of {}: {}", action, uuid, id.error().ToString());
    return 0;
  }
  return *id;
}

void ContainerRecords::FinishAction(int64_t action_id, const Status& st) {
  if (action_id == 0) return;
  Status s = actions_->Finish(action_id, clock_->Now(), st.ok() ? "" : st.message());
  if (!s.ok()) Logger("service")->warn("cannot finish action {}: {}", action_id, s.ToString());
}

Result<ContainerAction> ContainerRecords::Action(const std::string& uuid, const std::string& request_id) {
  return Named(actions_->Get(uuid, request_id), Code::kNotFound, "ContainerActionNotFound");
}

}  // namespace zunvm
