// Database: the daemon's SQLite file (SQLiteCpp, WAL, synchronous=FULL so a committed change
// survives a crash). One connection writes, guarded by one mutex: stores run their changes
// through Run() or Write(), which serialise access and turn SQLiteCpp exceptions into a Status.
// A few read-only connections serve Read() (and Query/QueryOne): with WAL they read the last
// committed state while a write, even its COMMIT's fsync, is under way, so reads never queue
// behind a disk flush. A Read sees every change whose Write/Run has returned; never one that
// has not committed.
//
// Thread safety: all methods are thread-safe. Never call Run(), Write() or Read() from inside a
// Run(), Write() or Read() callback.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <SQLiteCpp/VariadicBind.h>

#include "common/status.h"

namespace zunvm {

// A prepared statement from its connection's cache (Database::Prepare), reset and unbound
// when the handle ends, so the next user of the connection finds it ready. Used only by the
// thread that holds the connection (inside a Run, Write or Read callback), like the connection.
class CachedStatement {
 public:
  CachedStatement(CachedStatement&& o) noexcept : stmt_(o.stmt_), own_(std::move(o.own_)), in_use_(o.in_use_) {
    o.in_use_ = nullptr;
  }
  CachedStatement& operator=(CachedStatement&&) = delete;
  ~CachedStatement();
  SQLite::Statement& operator*() { return *stmt_; }
  SQLite::Statement* operator->() { return stmt_; }

 private:
  friend class Database;
  CachedStatement(SQLite::Statement* stmt, bool* in_use) : stmt_(stmt), in_use_(in_use) {}
  explicit CachedStatement(std::unique_ptr<SQLite::Statement> own) : stmt_(own.get()), own_(std::move(own)) {}
  SQLite::Statement* stmt_;
  std::unique_ptr<SQLite::Statement> own_;  // a statement prepared for this use alone
  bool* in_use_ = nullptr;                  // the cache entry's flag, cleared at the end
};

class Database {
 public:
  // Opens (creating if needed) the file and applies pending migrations.
  static Result<std::unique_ptr<Database>> Open(const std::string& path);

  // Runs `fn` with the connection under the lock. Exceptions from SQLiteCpp or nlohmann-json
  // become Internal (constraint violations: Conflict).
  Status Run(const std::function<Status(SQLite::Database&)>& fn);

  // Runs `fn` on an idle read-only connection (waits for one), in one read transaction: all
  // its statements see the same committed state. Errors map as in Run; a write in `fn` fails
  // (the connections are query_only).
  Status Read(const std::function<Status(SQLite::Database&)>& fn) { return OnReader(fn, true); }

  // Group commit: runs `fn` as one atomic change (a SAVEPOINT: an error, returned or thrown,
  // undoes its changes only) inside a transaction shared with the writers that arrived while
  // the previous group committed, so many writers pay for one COMMIT (one fsync) between
  // them. Returns once that COMMIT is durable, with fn's Status, or the COMMIT's error (then
  // nothing of fn stayed). `fn` must not begin or end transactions itself; errors map as in
  // Run. Blocks the calling thread; never call it from inside Run or Write.
  Status Write(const std::function<Status(SQLite::Database&)>& fn);

  // The helpers every store uses for a single statement: Query and QueryOne read (through
  // Read), Exec changes (through Run). `args` are bound in order, each row becomes a T through
  // `row`.
  template <typename T, typename Row, typename... Args>
  Result<std::vector<T>> Query(const std::string& sql, Row row, const Args&... args) {
    std::vector<T> out;
    Status st = OnReader([&](SQLite::Database& db) {
      CachedStatement q = Prepare(db, sql);
      SQLite::bind(*q, args...);
      while (q->executeStep()) out.push_back(row(*q));
      return Status::Ok();
    }, false);
    if (!st.ok()) return Err(st);
    return out;
  }
  // The first row, or nullopt.
  template <typename T, typename Row, typename... Args>
  Result<std::optional<T>> QueryOne(const std::string& sql, Row row, const Args&... args) {
    std::optional<T> out;
    Status st = OnReader([&](SQLite::Database& db) {
      CachedStatement q = Prepare(db, sql);
      SQLite::bind(*q, args...);
      if (q->executeStep()) out = row(*q);
      return Status::Ok();
    }, false);
    if (!st.ok()) return Err(st);
    return out;
  }
  // A statement that changes rows; how many it changed.
  template <typename... Args>
  Result<int> Exec(const std::string& sql, const Args&... args) {
    int changed = 0;
    Status st = Run([&](SQLite::Database& db) {
      CachedStatement q = Prepare(db, sql);
      SQLite::bind(*q, args...);
      changed = q->exec();
      return Status::Ok();
    });
    if (!st.ok()) return Err(st);
    return changed;
  }

  int SchemaVersion();

  // `sql` prepared on `conn` (the connection a Run, Write or Read callback got), parsed once
  // per connection and reused: most of a small statement's cost is parsing it. A statement
  // already in use on `conn` (a nested use of the same SQL) is prepared afresh. Throws as
  // SQLite::Statement's constructor does.
  CachedStatement Prepare(SQLite::Database& conn, const std::string& sql);

 private:
  struct PendingWrite;
  static constexpr int kReaders = 4;
  // Read, with or without the read transaction (one statement is its own snapshot).
  Status OnReader(const std::function<Status(SQLite::Database&)>& fn, bool snapshot);
  explicit Database(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}
  // fn's Status, or the Status of what it threw on `conn`.
  static Status Guarded(SQLite::Database& conn, const std::function<Status()>& fn);
  Status Guarded(const std::function<Status()>& fn) { return Guarded(*db_, fn); }
  // One transaction for `group`: sets each member's result. Under mu_.
  void CommitGroup(const std::vector<PendingWrite*>& group);

  std::mutex mu_;  // the connection
  std::unique_ptr<SQLite::Database> db_;
  std::mutex group_mu_;  // the writers waiting for a group, and whether one is committing
  std::condition_variable group_cv_;
  std::vector<PendingWrite*> pending_;
  bool committing_ = false;
  // Declared after db_: closed before it, so the writer's close checkpoints the WAL alone.
  std::vector<std::unique_ptr<SQLite::Database>> readers_;
  std::mutex read_mu_;  // idle_
  std::condition_variable read_cv_;
  std::vector<SQLite::Database*> idle_;  // readers not in use
  struct Prepared {
    std::unique_ptr<SQLite::Statement> stmt;
    bool in_use = false;
  };
  // Per connection (filled at Open, then only read): its statements by SQL, used only by the
  // connection's holder.
  std::unordered_map<SQLite::Database*, std::unordered_map<std::string, Prepared>> prepared_;
};

// Applies numbered migrations in one IMMEDIATE transaction; records the version in
// PRAGMA user_version. Refuses a database newer than this binary.
Status ApplyMigrations(SQLite::Database& db);
int LatestSchemaVersion();

}  // namespace zunvm
