// Database: the one SQLite connection of the daemon (SQLiteCpp, WAL, synchronous=FULL so a
// committed change survives a crash), guarded by one mutex. Stores run their statements
// through Run(), which serialises access and turns SQLiteCpp exceptions into a Status.
//
// Thread safety: all methods are thread-safe. Never call Run() or Write() from inside a Run() or
// Write() callback.
#pragma once

#include <condition_variable>
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

  // Group commit: runs `fn` as one atomic change (a SAVEPOINT: an error, returned or thrown,
  // undoes its changes only) inside a transaction shared with the writers that arrived while
  // the previous group committed, so many writers pay for one COMMIT (one fsync) between
  // them. Returns once that COMMIT is durable, with fn's Status, or the COMMIT's error (then
  // nothing of fn stayed). `fn` must not begin or end transactions itself; errors map as in
  // Run. Blocks the calling thread; never call it from inside Run or Write.
  Status Write(const std::function<Status(SQLite::Database&)>& fn);

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
  struct PendingWrite;
  explicit Database(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}
  // fn's Status, or the Status of what it threw.
  Status Guarded(const std::function<Status()>& fn);
  // One transaction for `group`: sets each member's result. Under mu_.
  void CommitGroup(const std::vector<PendingWrite*>& group);

  std::mutex mu_;  // the connection
  std::unique_ptr<SQLite::Database> db_;
  std::mutex group_mu_;  // the writers waiting for a group, and whether one is committing
  std::condition_variable group_cv_;
  std::vector<PendingWrite*> pending_;
  bool committing_ = false;
};

// Applies numbered migrations in one IMMEDIATE transaction; records the version in
// PRAGMA user_version. Refuses a database newer than this binary.
Status ApplyMigrations(SQLite::Database& db);
int LatestSchemaVersion();

}  // namespace zunvm
