#include "db/meta_store.h"

namespace zunvm {

Result<std::optional<std::string>> MetaStore::Get(const std::string& key) {
  return db_->QueryOne<std::string>(
      "SELECT value FROM meta WHERE key = ?", [](SQLite::Statement& q) { return q.getColumn(0).getString(); }, key);
}

Status MetaStore::Put(const std::string& key, const std::string& value) {
  auto r = db_->Exec("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", key, value);
  return r ? Status::Ok() : r.error();
}

Result<std::string> MetaStore::GetOrCreate(const std::string& key,
                                           const std::string& value_if_absent) {
  std::string out;
  Status st = db_->Run([&](SQLite::Database& db) {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement q(db, "SELECT value FROM meta WHERE key = ?");
    q.bind(1, key);
    if (q.executeStep()) {
      out = q.getColumn(0).getString();
      return Status::Ok();
    }
    SQLite::Statement ins(db, "INSERT INTO meta(key, value) VALUES(?, ?)");
    ins.bind(1, key);
    ins.bind(2, value_if_absent);
    ins.exec();
    tx.commit();
    out = value_if_absent;
    return Status::Ok();
  });
  if (!st.ok()) return Err(st);
  return out;
}

}  // namespace zunvm
