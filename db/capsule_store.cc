#include "db/capsule_store.h"

#include "common/json_opt.h"
#include "db/container_codec.h"

namespace zunvm {

using nlohmann::json;

namespace {

Capsule Row(SQLite::Statement& q) {
  Capsule c = CapsuleFromStorage(json::parse(q.getColumn(1).getString()));
  c.id = q.getColumn(0).getInt64();
  return c;
}

const char* kSelect = "SELECT id, data FROM capsules";

}  // namespace

json CapsuleToStorage(const Capsule& c) {
  json vols = json::array();
  for (const auto& v : c.volumes) {
    json e{{"name", v.name}, {"volume_uuid", v.volume_uuid}, {"size_gib", Opt(v.size_gib)}, {"auto_remove", v.auto_remove}};
    if (!v.device_path.empty()) e.update({{"device_path", v.device_path}, {"serial", v.serial}, {"fstype", v.fstype}});
    vols.push_back(e);
  }
  return {{"uuid", c.uuid},
          {"name", Opt(c.name)},
          {"labels", c.labels},
          {"annotations", c.annotations},
          {"status", ToString(c.status)},
          {"status_reason", Opt(c.status_reason)},
          {"task_state", c.task_state ? json(ToString(*c.task_state)) : json(nullptr)},
          {"restart_policy", {{"name", c.restart_policy.name}, {"max_retry", c.restart_policy.max_retry}}},
          {"cpu", c.cpu},
          {"memory", c.memory},
          {"init_containers", c.init_containers},
          {"containers", c.containers},
          {"volumes", vols},
          {"addresses", c.addresses},
          {"requested_nets", c.requested_nets},
          {"availability_zone", Opt(c.availability_zone)},
          {"host", Opt(c.host)},
          {"container_id", Opt(c.container_id)},
          {"user_id", c.user_id},
          {"project_id", c.project_id},
          {"created_at", ToMicros(c.created_at)},
          {"updated_at", c.updated_at ? json(ToMicros(*c.updated_at)) : json(nullptr)}};
}

Capsule CapsuleFromStorage(const json& j) {
  Capsule c;
  c.uuid = j.at("uuid").get<std::string>();
  c.name = GetOpt<std::string>(j, "name");
  c.labels = j.value("labels", std::map<std::string, std::string>{});
  c.annotations = j.value("annotations", std::map<std::string, std::string>{});
  c.status = ParseContainerStatus(j.at("status").get<std::string>()).value_or(ContainerStatus::kUnknown);
  c.status_reason = GetOpt<std::string>(j, "status_reason");
  if (auto t = GetOpt<std::string>(j, "task_state")) c.task_state = ParseTaskState(*t);
  const json& rp = j.at("restart_policy");
  c.restart_policy = {rp.value("name", "always"), rp.value("max_retry", 0)};
  c.cpu = j.value("cpu", 0.0);
  c.memory = j.value("memory", int64_t{0});
  c.init_containers = j.value("init_containers", std::vector<std::string>{});
  c.containers = j.value("containers", std::vector<std::string>{});
  for (const auto& v : j.value("volumes", json::array())) {
    c.volumes.push_back({v.at("name").get<std::string>(), v.value("volume_uuid", ""), GetOpt<int64_t>(v, "size_gib"),
                         v.value("auto_remove", false), v.value("device_path", ""), v.value("serial", ""),
                         v.value("fstype", "")});
  }
  c.addresses = j.value("addresses", json::object());
  c.requested_nets = j.value("requested_nets", json::array());
  c.availability_zone = GetOpt<std::string>(j, "availability_zone");
  c.host = GetOpt<std::string>(j, "host");
  c.container_id = GetOpt<std::string>(j, "container_id");
  c.user_id = j.value("user_id", "");
  c.project_id = j.value("project_id", "");
  c.created_at = FromMicros(j.at("created_at").get<int64_t>());
  if (auto u = GetOpt<int64_t>(j, "updated_at")) c.updated_at = FromMicros(*u);
  return c;
}

Status CapsuleStore::Insert(Capsule& c, std::vector<Container>& members) {
  return db_->Run([&](SQLite::Database& db) {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement q(db, "INSERT INTO capsules(uuid, name, project_id, data) VALUES(?, ?, ?, ?)");
    q.bind(1, c.uuid);
    if (c.name) q.bind(2, *c.name); else q.bind(2);
    q.bind(3, c.project_id);
    q.bind(4, CapsuleToStorage(c).dump());
    q.exec();
    c.id = db.getLastInsertRowid();
    for (auto& m : members) {
      SQLite::Statement mq(db,
                           "INSERT INTO containers(uuid, name, image, status, memory, cpu, project_id, user_id, "
                           "auto_remove, created_at, data) VALUES(?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)");
      SQLite::bind(mq, m.uuid, m.name, m.image, std::string(ToString(m.status)), static_cast<int64_t>(m.memory), m.cpu,
                   m.project_id, m.user_id, static_cast<int64_t>(ToMicros(m.created_at)), ToStorageJson(m).dump());
      mq.exec();
      m.id = db.getLastInsertRowid();
    }
    tx.commit();
    return Status::Ok();
  });
}

Status CapsuleStore::Update(const Capsule& c) {
  auto n = db_->Exec("UPDATE capsules SET name=?, data=? WHERE uuid=?", c.name.value_or(""), CapsuleToStorage(c).dump(), c.uuid);
  if (!n) return n.error();
  if (*n == 0) return Status::NotFound("Capsule " + c.uuid + " could not be found.");
  return Status::Ok();
}

Result<Capsule> CapsuleStore::Get(const std::string& uuid) {
  auto out = db_->QueryOne<Capsule>(std::string(kSelect) + " WHERE uuid=?", Row, uuid);
  if (!out) return Err(out.error());
  if (!*out) return Err(Status::NotFound("Capsule " + uuid + " could not be found."));
  return **out;
}

Result<std::vector<Capsule>> CapsuleStore::FindByName(const std::string& name) {
  return db_->Query<Capsule>(std::string(kSelect) + " WHERE name=? ORDER BY id", Row, name);
}

Result<std::vector<Capsule>> CapsuleStore::List(int64_t marker_id, size_t limit, bool descending) {
  std::string sql = std::string(kSelect);
  if (marker_id > 0) sql += descending ? " WHERE id < ?" : " WHERE id > ?";
  sql += descending ? " ORDER BY id DESC" : " ORDER BY id ASC";
  sql += " LIMIT " + std::to_string(limit);
  if (marker_id > 0) return db_->Query<Capsule>(sql, Row, marker_id);
  return db_->Query<Capsule>(sql, Row);
}

Result<std::vector<Capsule>> CapsuleStore::All() { return db_->Query<Capsule>(std::string(kSelect) + " ORDER BY id", Row); }

Status CapsuleStore::Delete(const std::string& uuid) {
  return db_->Run([&](SQLite::Database& db) {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    for (const char* sql :
         {"DELETE FROM container_action_events WHERE action_id IN (SELECT a.id FROM container_actions a JOIN "
          "containers c ON a.container_uuid = c.uuid WHERE c.capsule_id = ?)",
          "DELETE FROM container_actions WHERE container_uuid IN (SELECT uuid FROM containers WHERE "
          "capsule_id = ?)",
          "DELETE FROM containers WHERE capsule_id = ?", "DELETE FROM capsules WHERE uuid = ?"}) {
      SQLite::Statement q(db, sql);
      q.bind(1, uuid);
      q.exec();
    }
    tx.commit();
    return Status::Ok();
  });
}

}  // namespace zunvm
