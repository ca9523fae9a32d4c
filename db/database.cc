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
    return std::unique_ptr<Database>(new Database(std::move(db)));
  } catch (const std::exception& e) {
    return Err(Status::Internal("cannot open database " + path + ": " + e.what() + kLeftAlone));
  }
}

Status Database::Guarded(const std::function<Status()>& fn) {
  try {
    return fn();
  } catch (const SQLite::Exception& e) {
    return FromSqlite(e, *db_);
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
    db_->exec("BEGIN IMMEDIATE");
    return Status::Ok();
  });
  if (!begun.ok()) {
    for (PendingWrite* p : group) p->result = begun;
    return;
  }
  for (size_t i = 0; i < group.size(); ++i) {
    PendingWrite* p = group[i];
    Status st = Guarded([&] {
      db_->exec("SAVEPOINT member");
      return (*p->fn)(*db_);
    });
    // An error that makes SQLite roll back the whole transaction (a full disk, an I/O error),
    // or a savepoint that cannot be undone, ends the transaction.
    bool ended = sqlite3_get_autocommit(db_->getHandle()) != 0;
    if (!ended) {
      Status undo = Guarded([&] {
        if (!st.ok()) db_->exec("ROLLBACK TO member");
        db_->exec("RELEASE member");
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
    db_->exec("COMMIT");
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
