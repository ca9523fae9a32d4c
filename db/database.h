// Database: the one SQLite connection of the daemon (SQLiteCpp, WAL, synchronous=FULL so a
// committed change survives a crash), guarded by one mutex. Stores run their statements
// through Run(), which serialises access and turns SQLiteCpp exceptions into a Status.
//
// Thread safety: all methods are thread-safe. Never call Run() from inside a Run() callback.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>

#include "common/status.h"

namespace zunvm {

class Database {
 public:
  // Opens (creating if needed) the file and applies pending migrations.
  static Result<std::unique_ptr<Database>> Open(const std::string& path);

  // Runs `fn` with the connection under the lock. Exceptions from SQLiteCpp or nlohmann-json
  // become Internal (constraint violations: Conflict).
  Status Run(const std::function<Status(SQLite::Database&)>& fn);

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
