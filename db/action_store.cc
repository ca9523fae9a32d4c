#include "db/action_store.h"

namespace zunvm {

namespace {
std::optional<TimePoint> OptTime(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return FromMicros(c.getInt64());
}
std::optional<std::string> OptText(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getString();
}
ContainerAction ActionRow(SQLite::Statement& q) {
  ContainerAction a;
  a.id = q.getColumn(0).getInt64();
  a.request_id = q.getColumn(1).getString();
  a.container_uuid = q.getColumn(2).getString();
  a.action = q.getColumn(3).getString();
  a.user_id = q.getColumn(4).getString();
  a.project_id = q.getColumn(5).getString();
  a.start_time = FromMicros(q.getColumn(6).getInt64());
  a.finish_time = OptTime(q.getColumn(7));
  a.message = OptText(q.getColumn(8));
  return a;
}
const char* kActionCols =
    "id, request_id, container_uuid, action, user_id, project_id, start_time, finish_time, "
    "message";
}  // namespace

int64_t ActionStore::StartIn(SQLite::Database& db, const ContainerAction& a, const std::string& event) {
  CachedStatement q = db_->Prepare(db,
                      "INSERT INTO container_actions(request_id, container_uuid, action, "
                      "user_id, project_id, start_time) VALUES(?, ?, ?, ?, ?, ?)");
  q->bind(1, a.request_id);
  q->bind(2, a.container_uuid);
  q->bind(3, a.action);
  q->bind(4, a.user_id);
  q->bind(5, a.project_id);
  q->bind(6, static_cast<int64_t>(ToMicros(a.start_time)));
  q->exec();
  const int64_t id = db.getLastInsertRowid();
  CachedStatement e = db_->Prepare(db,
                      "INSERT INTO container_action_events(action_id, event, start_time) "
                      "VALUES(?, ?, ?)");
  e->bind(1, static_cast<int64_t>(id));
  e->bind(2, event);
  e->bind(3, static_cast<int64_t>(ToMicros(a.start_time)));
  e->exec();
  return id;
}

Result<int64_t> ActionStore::Start(const ContainerAction& a, const std::string& event) {
  int64_t id = 0;
  Status st = db_->Write([&](SQLite::Database& db) {
    id = StartIn(db, a, event);
    return Status::Ok();
  });
  if (!st.ok()) return Err(st);
  return id;
}

Status ActionStore::Finish(int64_t action_id, TimePoint when, const std::string& error) {
  return db_->Write([&](SQLite::Database& db) {
    CachedStatement q = db_->Prepare(db, "UPDATE container_actions SET finish_time=?, message=? WHERE id=?");
    q->bind(1, static_cast<int64_t>(ToMicros(when)));
    if (error.empty()) q->bind(2); else q->bind(2, error);
    q->bind(3, static_cast<int64_t>(action_id));
    q->exec();
    CachedStatement e = db_->Prepare(db,
                        "UPDATE container_action_events SET finish_time=?, result=?, traceback=? "
                        "WHERE action_id=? AND finish_time IS NULL");
    e->bind(1, static_cast<int64_t>(ToMicros(when)));
    e->bind(2, error.empty() ? "Success" : "Error");
    if (error.empty()) e->bind(3); else e->bind(3, error);
    e->bind(4, static_cast<int64_t>(action_id));
    e->exec();
    return Status::Ok();
  });
}

Result<std::vector<ContainerAction>> ActionStore::List(const std::string& uuid) {
  return db_->Query<ContainerAction>(
      std::string("SELECT ") + kActionCols + " FROM container_actions WHERE container_uuid=? ORDER BY id DESC",
      ActionRow, uuid);
}

Result<ContainerAction> ActionStore::Get(const std::string& uuid, const std::string& request_id) {
  std::optional<ContainerAction> out;
  Status st = db_->Read([&](SQLite::Database& db) {
    SQLite::Statement q(db, std::string("SELECT ") + kActionCols +
                                " FROM container_actions WHERE container_uuid=? AND "
                                "request_id=? ORDER BY id DESC LIMIT 1");
    q.bind(1, uuid);
    q.bind(2, request_id);
    if (!q.executeStep()) return Status::Ok();
    out = ActionRow(q);
    SQLite::Statement e(db,
                        "SELECT event, start_time, finish_time, result, traceback FROM "
                        "container_action_events WHERE action_id=? ORDER BY id");
    e.bind(1, static_cast<int64_t>(out->id));
    while (e.executeStep()) {
      ActionEvent ev;
      ev.event = e.getColumn(0).getString();
      ev.start_time = FromMicros(e.getColumn(1).getInt64());
      ev.finish_time = OptTime(e.getColumn(2));
      ev.result = OptText(e.getColumn(3));
      ev.traceback = OptText(e.getColumn(4));
      out->events.push_back(std::move(ev));
    }
    return Status::Ok();
  });
  if (!st.ok()) return Err(st);
  if (!out) {
    return Err(Status::NotFound("Action " + request_id + " could not be found for container " + uuid + "."));
  }
  return *out;
}

}  // namespace zunvm
