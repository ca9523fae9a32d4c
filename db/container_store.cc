#include "db/container_store.h"

#include <algorithm>
#include <set>

#include "common/strings.h"
#include "db/container_codec.h"

namespace zunvm {

namespace {

const char* kColumns = "id, data";

// Columns that may be NULL are compared and ordered through IFNULL so NULLs sort first and
// markers work on them.
std::string SortExpr(const std::string& key) {
  if (key == "task_state" || key == "host") return "IFNULL(" + key + ", '')";
  if (key == "updated_at") return "IFNULL(updated_at, 0)";
  return key;
}


void BindRecord(SQLite::Statement& q, const Container& c) {
  q.bind(":uuid", c.uuid);
  q.bind(":name", c.name);
  q.bind(":image", c.image);
  q.bind(":status", ToString(c.status));
  if (c.task_state) q.bind(":task_state", ToString(*c.task_state)); else q.bind(":task_state");
  q.bind(":memory", static_cast<int64_t>(c.memory));
  q.bind(":cpu", c.cpu);
  if (c.host) q.bind(":host", *c.host); else q.bind(":host");
  q.bind(":project_id", c.project_id);
  q.bind(":user_id", c.user_id);
  q.bind(":auto_remove", c.auto_remove ? 1 : 0);
  q.bind(":created_at", static_cast<int64_t>(ToMicros(c.created_at)));
  if (c.updated_at) q.bind(":updated_at", static_cast<int64_t>(ToMicros(*c.updated_at)));
  else q.bind(":updated_at");
  if (c.capsule_id) q.bind(":capsule_id", *c.capsule_id); else q.bind(":capsule_id");
  q.bind(":data", ToStorageJson(c).dump());
}

// Whether a container other than `except_uuid` has `name` (ignoring case), in `project` or,
// without one, anywhere. Runs on `db` as it is (inside a caller's transaction, or a Read).
bool NameTakenOn(Database& store_db, SQLite::Database& db, const std::string& name,
                 const std::optional<std::string>& project, const std::string& except_uuid) {
  CachedStatement q = store_db.Prepare(
      db, project ? "SELECT 1 FROM containers WHERE lower(name) = lower(?) AND uuid != ? AND project_id = ? LIMIT 1"
                  : "SELECT 1 FROM containers WHERE lower(name) = lower(?) AND uuid != ? LIMIT 1");
  q->bind(1, name);
  q->bind(2, except_uuid);
  if (project) q->bind(3, *project);
  return q->executeStep();
}

// Conflict when `names` keeps c's name unique and another container has it.
Status CheckName(Database& store_db, SQLite::Database& db, const Container& c, ContainerNameScope names) {
  if (!names.unique) return Status::Ok();
  if (!NameTakenOn(store_db, db, c.name, names.in_project ? std::optional(c.project_id) : std::nullopt, c.uuid)) {
    return Status::Ok();
  }
  return Status::Conflict("A container with name " + ToLower(c.name) + " already exists.");
}

}  // namespace

std::shared_ptr<const Container> ContainerStore::Shared(SQLite::Statement& q) {
  const int64_t id = q.getColumn(0).getInt64();
  const SQLite::Column data = q.getColumn(1);
  const std::string_view text(static_cast<const char*>(data.getBlob()), static_cast<size_t>(data.getBytes()));
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(id);
    if (it != cache_.end() && it->second.data == text) return it->second.record;
  }
  auto c = std::make_shared<Container>(FromStorageJson(nlohmann::json::parse(text)));  // throws on a damaged row
  c->id = id;
  std::lock_guard<std::mutex> lock(cache_mu_);
  c->revision = next_revision_++;
  if (cache_.size() >= kCachedRecords) cache_.clear();  // bounded; refilled by the next reads
  cache_[id] = Cached{std::string(text), c};
  return c;
}

Status ContainerStore::Insert(Container& c, ContainerNameScope names, const NamePicker& pick,
                              const std::function<void(SQLite::Database&)>& with) {
  return db_->Write([&](SQLite::Database& db) -> Status {
    if (c.name.empty() && pick) {
      const std::optional<std::string> project =
          names.in_project ? std::optional(c.project_id) : std::nullopt;
      c.name = pick([&](const std::string& name) { return names.unique && NameTakenOn(*db_, db, name, project, c.uuid); });
    }
    ZUNVM_RETURN_IF_ERROR(CheckName(*db_, db, c, names));
    CachedStatement q = db_->Prepare(db,
                        "INSERT INTO containers(uuid, name, image, status, task_state, memory, "
                        "cpu, host, project_id, user_id, auto_remove, created_at, updated_at, "
                        "capsule_id, data) VALUES(:uuid, :name, :image, :status, :task_state, :memory, :cpu, "
                        ":host, :project_id, :user_id, :auto_remove, :created_at, :updated_at, "
                        ":capsule_id, :data)");
    BindRecord(*q, c);
    q->exec();
    c.id = db.getLastInsertRowid();
    if (with) with(db);
    return Status::Ok();
  });
}

Status ContainerStore::Update(const Container& c, ContainerNameScope names) {
  return db_->Write([&](SQLite::Database& db) -> Status {
    ZUNVM_RETURN_IF_ERROR(CheckName(*db_, db, c, names));
    CachedStatement q = db_->Prepare(db,
                        "UPDATE containers SET name=:name, image=:image, status=:status, "
                        "task_state=:task_state, memory=:memory, cpu=:cpu, host=:host, "
                        "project_id=:project_id, user_id=:user_id, auto_remove=:auto_remove, "
                        "created_at=:created_at, updated_at=:updated_at, capsule_id=:capsule_id, data=:data "
                        "WHERE uuid=:uuid");
    BindRecord(*q, c);
    if (q->exec() == 0) return Status::NotFound("Container " + c.uuid + " could not be found.");
    return Status::Ok();
  });
}

Result<Container> ContainerStore::Get(const std::string& uuid) {
  auto out = db_->QueryOne<Container>(std::string("SELECT ") + kColumns + " FROM containers WHERE uuid=?",
                                      [this](SQLite::Statement& q) { return Row(q); }, uuid);
  if (!out) return Err(out.error());
  if (!*out) return Err(Status::NotFound("Container " + uuid + " could not be found."));
  return **out;
}

Result<std::vector<Container>> ContainerStore::FindByName(const std::string& name) {
  return db_->Query<Container>(std::string("SELECT ") + kColumns + " FROM containers WHERE name=? ORDER BY id",
                               [this](SQLite::Statement& q) { return Row(q); },
                               name);
}

Status ContainerStore::NameFree(const Container& c, ContainerNameScope names) {
  if (!names.unique) return Status::Ok();
  return db_->Read([&](SQLite::Database& db) { return CheckName(*db_, db, c, names); });
}

Result<ContainerList> ContainerStore::List(const ListQuery& lq) {
  ZUNVM_RETURN_IF_ERROR(lq.Validate());  // keys and sort key: the SQL below names them
  // A capsule's members are listed with their capsule.
  std::string where = " WHERE capsule_id IS NULL";
  std::vector<std::pair<std::string, std::string>> binds;  // placeholder order
  for (const auto& [key, value] : lq.filters) {
    where += " AND ";
    if (key == "auto_remove") {
      where += "auto_remove = " + std::string(*ParseBoolExtended(value) ? "1" : "0");
    } else if (key == "memory") {
      auto m = ParseInt(value);
      where += m ? "memory = " + std::to_string(*m) : std::string("0 = 1");
    } else {
      where += key + " = ?";
      binds.emplace_back(key, value);
    }
  }
  ContainerList out;
  Status st = db_->Read([&](SQLite::Database& db) {
    std::string expr = SortExpr(lq.sort_key);
    std::string dir = lq.descending ? "DESC" : "ASC";
    std::string sql = std::string("SELECT ") + kColumns + " FROM containers" + where;
    int64_t marker_id = 0;
    bool have_marker = false;
    if (lq.marker) {
      SQLite::Statement m(db, "SELECT id FROM containers WHERE uuid=?");
      m.bind(1, *lq.marker);
      if (!m.executeStep()) {
        return Status::NotFound("Marker " + *lq.marker + " could not be found.");
      }
      marker_id = m.getColumn(0).getInt64();
      have_marker = true;
      std::string cmp = lq.descending ? "<" : ">";
      std::string mexpr = "(SELECT " + expr + " FROM containers WHERE id = :mid)";
      sql += " AND ";
      sql += "(" + expr + " " + cmp + " " + mexpr + " OR (" + expr + " = " + mexpr + " AND id " +
             cmp + " :mid))";
    }
    sql += " ORDER BY " + expr + " " + dir + ", id " + dir + " LIMIT " + std::to_string(lq.limit);
    SQLite::Statement q(db, sql);
    int idx = 1;
    for (const auto& b : binds) q.bind(idx++, b.second);
    if (have_marker) q.bind(":mid", static_cast<int64_t>(marker_id));
    while (q.executeStep()) out.push_back(Shared(q));
    return Status::Ok();
  });
  if (!st.ok()) return Err(st);
  return out;
}

Result<std::vector<Container>> ContainerStore::All() {
  return db_->Query<Container>(std::string("SELECT ") + kColumns + " FROM containers ORDER BY id",
                               [this](SQLite::Statement& q) { return Row(q); });
}

Result<ContainerList> ContainerStore::WithStatus(ContainerStatus status) {
  return db_->Query<std::shared_ptr<const Container>>(
      std::string("SELECT ") + kColumns + " FROM containers WHERE status = ? ORDER BY id",
      [this](SQLite::Statement& q) { return Shared(q); }, ToString(status));
}

Status ContainerStore::Delete(const std::string& uuid) {
  return db_->Run([&](SQLite::Database& db) {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement ev(db,
                         "DELETE FROM container_action_events WHERE action_id IN (SELECT id FROM "
                         "container_actions WHERE container_uuid=?)");
    ev.bind(1, uuid);
    ev.exec();
    SQLite::Statement a(db, "DELETE FROM container_actions WHERE container_uuid=?");
    a.bind(1, uuid);
    a.exec();
    SQLite::Statement q(db, "DELETE FROM containers WHERE uuid=?");
    q.bind(1, uuid);
    q.exec();
    tx.commit();
    return Status::Ok();
  });
}

}  // namespace zunvm
