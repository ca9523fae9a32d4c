#include "db/database.h"

#include <sqlite3.h>

#include <nlohmann/json.hpp>

namespace zunvm {

Result<std::unique_ptr<Database>> Database::Open(const std::string& path) {
  try {
    auto db = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX, 5000);
    db->exec("PRAGMA journal_mode=WAL");
    db->exec("PRAGMA synchronous=FULL");
    db->exec("PRAGMA foreign_keys=ON");
    Status st = ApplyMigrations(*db);
    if (!st.ok()) return Err(st);
    return std::unique_ptr<Database>(new Database(std::move(db)));
  } catch (const std::exception& e) {
    return Err(Status::Internal("cannot open database " + path + ": " + e.what()));
  }
}

Status Database::Run(const std::function<Status(SQLite::Database&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    return fn(*db_);
  } catch (const SQLite::Exception& e) {
    if (e.getErrorCode() == SQLITE_CONSTRAINT) return Status::Conflict(e.what());
    if (e.getErrorCode() == SQLITE_BUSY) return Status::Unavailable(e.what());
    return Status::Internal(std::string("database error: ") + e.what());
  } catch (const nlohmann::json::exception& e) {
    return Status::Internal(std::string("corrupt record in database: ") + e.what());
  } catch (const std::exception& e) {
    return Status::Internal(std::string("database error: ") + e.what());
  }
}

int Database::SchemaVersion() {
  int v = -1;
  Status st = Run([&](SQLite::Database& db) {
    v = db.execAndGet("PRAGMA user_version").getInt();
    return Status::Ok();
  });
  return st.ok() ? v : -1;
}

}  // namespace zunvm
