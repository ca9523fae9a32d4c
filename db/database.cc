#include "db/database.h"

#include <sqlite3.h>

#include <nlohmann/json.hpp>

namespace zunvm {

namespace {

const char* const kLeftAlone =
    "; zunvmd leaves the file as it is: restore it from a backup, or move it away to start with an empty "
    "database";

}  // namespace

Result<std::unique_ptr<Database>> Database::Open(const std::string& path) {
  try {
    auto db = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX, 5000);
    db->exec("PRAGMA journal_mode=WAL");
    db->exec("PRAGMA synchronous=FULL");
    db->exec("PRAGMA foreign_keys=ON");
    // A damaged file is refused before anything writes to it (quick_check reads every page).
    const std::string check = db->execAndGet("PRAGMA quick_check").getString();
    if (check != "ok") {
      return Err(Status::Internal("database " + path + " is damaged (" + check.substr(0, 200) + ")" + kLeftAlone));
    }
    Status st = ApplyMigrations(*db);
    if (!st.ok()) return Err(Status(st.code(), "database " + path + ": " + st.message()));
    return std::unique_ptr<Database>(new Database(std::move(db)));
  } catch (const std::exception& e) {
    return Err(Status::Internal("cannot open database " + path + ": " + e.what() + kLeftAlone));
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
