#include "db/database.h"

#include <sqlite3.h>

#include <cerrno>

#include <nlohmann/json.hpp>

namespace zunvm {

namespace {

const char* const kLeftAlone =
    "; zunvmd leaves the file as it is: restore it from a backup, or move it away to start with an empty "
    "database";

// SQLiteCpp's exception as a Status: a constraint is Conflict, a busy database Unavailable, a
// full disk (SQLITE_FULL, or an I/O error with ENOSPC/EDQUOT behind it) NoSpace naming the
// state directory (the database's), anything else Internal.
Status FromSqlite(const SQLite::Exception& e, SQLite::Database& db) {
  const int code = e.getErrorCode() & 0xff;
  if (code == SQLITE_CONSTRAINT) return Status::Conflict(e.what());
  if (code == SQLITE_BUSY) return Status::Unavailable(e.what());
  const int err = sqlite3_system_errno(db.getHandle());
  if (code == SQLITE_FULL || (code == SQLITE_IOERR && (err == ENOSPC || err == EDQUOT))) {
    const std::string& path = db.getFilename();
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    return Status::NoSpace("No space left on the filesystem of the state directory " + dir + " (SQLite: " +
                           e.what() + "). Free space there; zunvmd goes on by itself once there is room.");
  }
  return Status::Internal(std::string("database error: ") + e.what());
}

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
    std::unique_ptr<Database> out(new Database(std::move(db)));
    out->prepared_[out->db_.get()];
    for (int i = 0; i < kReaders; ++i) {
      auto reader = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_FULLMUTEX, 5000);
      reader->exec("PRAGMA query_only=ON");
      out->idle_.push_back(reader.get());
      out->prepared_[reader.get()];
      out->readers_.push_back(std::move(reader));
    }
    return out;
  } catch (const std::exception& e) {
    return Err(Status::Internal("cannot open database " + path + ": " + e.what() + kLeftAlone));
  }
}

Status Database::Guarded(SQLite::Database& conn, const std::function<Status()>& fn) {
  try {
    return fn();
  } catch (const SQLite::Exception& e) {
    return FromSqlite(e, conn);
  } catch (const nlohmann::json::exception& e) {
    return Status::Internal(std::string("corrupt record in database: ") + e.what());
  } catch (const std::exception& e) {
    return Status::Internal(std::string("database error: ") + e.what());
  }
}

Status Database::Run(const std::function<Status(SQLite::Database&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] { return fn(*db_); });
}

CachedStatement::~CachedStatement() {
  if (!in_use_) return;
  stmt_->tryReset();
  try {
    stmt_->clearBindings();  // sqlite3_clear_bindings cannot fail; SQLiteCpp's wrapper may throw
  } catch (const std::exception&) {
  }
  *in_use_ = false;
}

CachedStatement Database::Prepare(SQLite::Database& conn, const std::string& sql) {
  auto& cache = prepared_.at(&conn);
  auto it = cache.find(sql);
  if (it == cache.end()) it = cache.emplace(sql, Prepared{std::make_unique<SQLite::Statement>(conn, sql)}).first;
  if (it->second.in_use) return CachedStatement(std::make_unique<SQLite::Statement>(conn, sql));
  it->second.in_use = true;
  return CachedStatement(it->second.stmt.get(), &it->second.in_use);
}

Status Database::OnReader(const std::function<Status(SQLite::Database&)>& fn, bool snapshot) {
  SQLite::Database* conn = nullptr;
  {
    std::unique_lock<std::mutex> lock(read_mu_);
    read_cv_.wait(lock, [this] { return !idle_.empty(); });
    conn = idle_.back();
    idle_.pop_back();
  }
  Status st = Guarded(*conn, [&] {
    if (!snapshot) return fn(*conn);
    Prepare(*conn, "BEGIN")->exec();  // one snapshot for all of fn's statements
    Status out;
    try {
      out = fn(*conn);
    } catch (...) {
      if (sqlite3_get_autocommit(conn->getHandle()) == 0) Prepare(*conn, "ROLLBACK")->exec();
      throw;
    }
    Prepare(*conn, "COMMIT")->exec();
    return out;
  });
  {
    std::lock_guard<std::mutex> lock(read_mu_);
    idle_.push_back(conn);
  }
  read_cv_.notify_one();
  return st;
}

struct Database::PendingWrite {
  const std::function<Status(SQLite::Database&)>* fn;
  Status result = Status::Ok();
  bool done = false;
};

Status Database::Write(const std::function<Status(SQLite::Database&)>& fn) {
  PendingWrite me{&fn};
  std::unique_lock<std::mutex> lock(group_mu_);
  pending_.push_back(&me);
  while (!me.done) {
    if (committing_) {  // a leader is committing: wait for it, then lead or be done
      group_cv_.wait(lock);
      continue;
    }
    committing_ = true;
    std::vector<PendingWrite*> group;
    group.swap(pending_);
    lock.unlock();
    {
      std::lock_guard<std::mutex> db_lock(mu_);
      CommitGroup(group);
    }
    lock.lock();
    for (PendingWrite* p : group) p->done = true;
    committing_ = false;
    group_cv_.notify_all();
  }
  return me.result;
}

void Database::CommitGroup(const std::vector<PendingWrite*>& group) {
  if (group.empty()) return;
  Status begun = Guarded([&] {
    Prepare(*db_, "BEGIN IMMEDIATE")->exec();
    return Status::Ok();
  });
  if (!begun.ok()) {
    for (PendingWrite* p : group) p->result = begun;
    return;
  }
  for (size_t i = 0; i < group.size(); ++i) {
    PendingWrite* p = group[i];
    Status st = Guarded([&] {
      Prepare(*db_, "SAVEPOINT member")->exec();
      return (*p->fn)(*db_);
    });
    // An error that makes SQLite roll back the whole transaction (a full disk, an I/O error),
    // or a savepoint that cannot be undone, ends the transaction.
    bool ended = sqlite3_get_autocommit(db_->getHandle()) != 0;
    if (!ended) {
      Status undo = Guarded([&] {
        if (!st.ok()) Prepare(*db_, "ROLLBACK TO member")->exec();
        Prepare(*db_, "RELEASE member")->exec();
        return Status::Ok();
      });
      if (!undo.ok()) {
        (void)Guarded([&] {
          db_->exec("ROLLBACK");
          return Status::Ok();
        });
        if (st.ok()) st = undo;
        ended = true;
      }
    }
    p->result = st;
    if (ended) {
      // The members before this one went with the transaction: they fail with its error; the
      // rest start a new one.
      const Status lost = st.ok() ? Status::Internal("database error: the transaction was rolled back") : st;
      for (size_t j = 0; j <= i; ++j) {
        if (group[j]->result.ok()) group[j]->result = lost;
      }
      CommitGroup(std::vector<PendingWrite*>(group.begin() + static_cast<std::ptrdiff_t>(i) + 1, group.end()));
      return;
    }
  }
  Status committed = Guarded([&] {
    Prepare(*db_, "COMMIT")->exec();
    return Status::Ok();
  });
  if (committed.ok()) return;
  if (sqlite3_get_autocommit(db_->getHandle()) == 0) {
    (void)Guarded([&] {
      db_->exec("ROLLBACK");
      return Status::Ok();
    });
  }
  for (PendingWrite* p : group) {
    if (p->result.ok()) p->result = committed;
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
