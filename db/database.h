// Database: the one SQLite connection of the daemon (SQLiteCpp, WAL, synchronous=FULL so a
// committed change survives a crash), guarded by one mutex. Stores run their statements
// through Run(), which serialises access and turns SQLiteCpp exceptions into a Status.
//
// Thread safety: all methods are thread-safe. Never call Run() from inside a Run() callback.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <SQLiteCpp/VariadicBind.h>

#include "common/status.h"

namespace zunvm {

class Database {
 public:
  // Opens (creating if needed) the file and applies pending migrations.
  static Result<std::unique_ptr<Database>> Open(const std::string& path);

  // Runs `fn` with the connection under the lock. Exceptions from SQLiteCpp or nlohmann-json
  // become Internal (constraint violations: Conflict).
  Status Run(const std::function<Status(SQLite::Database&)>& fn);

  // The helpers every store uses for a single statement (under the lock, like Run): `args`
  // are bound in order, each row becomes a T through `row`.
  template <typename T, typename Row, typename... Args>
  Result<std::vector<T>> Query(const std::string& sql, Row row, const Args&... args) {
    std::vector<T> out;
    Status st = Run([&](SQLite::Database& db) {
      SQLite::Statement q(db, sql);
      SQLite::bind(q, args...);
      while (q.executeStep()) out.push_back(row(q));
      return Status::Ok();
    });
    if (!st.ok()) return Err(st);
    return out;
  }
  // The first row, or nullopt.
  template <typename T, typename Row, typename... Args>
  Result<std::optional<T>> QueryOne(const std::string& sql, Row row, const Args&... args) {
    std::optional<T> out;
    Status st = Run([&](SQLite::Database& db) {
      SQLite::Statement q(db, sql);
      SQLite::bind(q, args...);
      if (q.executeStep()) out = row(q);
      return Status::Ok();
    });
    if (!st.ok()) return Err(st);
    return out;
  }
  // A statement that changes rows; how many it changed.
  template <typename... Args>
  Result<int> Exec(const std::string& sql, const Args&... args) {
    int changed = 0;
    Status st = Run([&](SQLite::Database& db) {
      SQLite::Statement q(db, sql);
      SQLite::bind(q, args...);
      changed = q.exec();
      return Status::Ok();
    });
    if (!st.ok()) return Err(st);
    return changed;
  }

  int SchemaVersion();

 private:
  explicit Database(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}
  std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;
};

// Applies numbered migrations in one IMMEDIATE transaction; records the version in
// PRAGMA user_version. Refuses a database newer than this binary.
Status ApplyMigrations(SQLite::Database& db);
int LatestSchemaVersion();

}  // namespace zunvm
