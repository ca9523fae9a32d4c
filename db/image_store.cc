#include "db/image_store.h"

#include "common/ids.h"
#include "common/timefmt.h"

namespace zunvm {

using nlohmann::json;

namespace {

const char kColumns[] = "id, uuid, repo, tag, image_id, digest, size, data, created_at";

ImageRecord FromRow(SQLite::Statement& q) {
  ImageRecord r;
  r.id = q.getColumn(0).getInt64();
  r.uuid = q.getColumn(1).getString();
  r.repo = q.getColumn(2).getString();
  r.tag = q.getColumn(3).getString();
  r.image_id = q.getColumn(4).getString();
  r.digest = q.getColumn(5).getString();
  r.size = q.getColumn(6).getInt64();
  json data = json::parse(q.getColumn(7).getString(), nullptr, false);
  if (data.is_object()) {
    if (data.contains("config") && data["config"].is_object()) r.config = data["config"];
    if (data.contains("layers") && data["layers"].is_array()) {
      for (const auto& l : data["layers"]) {
        if (l.is_string()) r.layers.push_back(l.get<std::string>());
      }
    }
  }
  r.created_at = q.getColumn(8).getString();
  return r;
}

}  // namespace

Status ImageStore::Upsert(ImageRecord& r) {
  return db_->Run([&](SQLite::Database& db) {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    std::string data = json{{"config", r.config}, {"layers", r.layers}}.dump();
    SQLite::Statement find(db, "SELECT uuid FROM images WHERE repo = ? AND tag = ?");
    find.bind(1, r.repo);
    find.bind(2, r.tag);
    if (find.executeStep()) {
      r.uuid = find.getColumn(0).getString();
      SQLite::Statement up(db, "UPDATE images SET image_id = ?, digest = ?, size = ?, data = ? WHERE uuid = ?");
      up.bind(1, r.image_id);
      up.bind(2, r.digest);
      up.bind(3, r.size);
      up.bind(4, data);
      up.bind(5, r.uuid);
      up.exec();
    } else {
      if (r.uuid.empty()) r.uuid = NewUuid();
      if (r.created_at.empty()) r.created_at = FormatApiTime(std::chrono::system_clock::now());
      SQLite::Statement ins(db,
                            "INSERT INTO images(uuid, repo, tag, image_id, digest, size, data, created_at) "
                            "VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
      ins.bind(1, r.uuid);
      ins.bind(2, r.repo);
      ins.bind(3, r.tag);
      ins.bind(4, r.image_id);
      ins.bind(5, r.digest);
      ins.bind(6, r.size);
      ins.bind(7, data);
      ins.bind(8, r.created_at);
      ins.exec();
      r.id = db.getLastInsertRowid();
    }
    tx.commit();
    return Status::Ok();
  });
}

Result<ImageRecord> ImageStore::Get(const std::string& uuid) {
  std::optional<ImageRecord> out;
  Status st = db_->Run([&](SQLite::Database& db) {
    SQLite::Statement q(db, std::string("SELECT ") + kColumns + " FROM images WHERE uuid = ?");
    q.bind(1, uuid);
    if (q.executeStep()) out = FromRow(q);
    return Status::Ok();
  });
  if (!st.ok()) return Err(st);
  if (!out) return Err(Status::NotFound("Image " + uuid + " could not be found.", "ImageNotFound"));
  return *out;
}

Result<ImageRecord> ImageStore::GetByName(const std::string& repo, const std::string& tag) {
  std::optional<ImageRecord> out;
  Status st = db_->Run([&](SQLite::Database& db) {
    SQLite::Statement q(db, std::string("SELECT ") + kColumns + " FROM images WHERE repo = ? AND tag = ?");
    q.bind(1, repo);
    q.bind(2, tag);
    if (q.executeStep()) out = FromRow(q);
    return Status::Ok();
  });
  if (!st.ok()) return Err(st);
  if (!out) return Err(Status::NotFound("Image " + repo + ":" + tag + " could not be found.", "ImageNotFound"));
  return *out;
}

Result<std::vector<ImageRecord>> ImageStore::All() {
  std::vector<ImageRecord> out;
  Status st = db_->Run([&](SQLite::Database& db) {
    SQLite::Statement q(db, std::string("SELECT ") + kColumns + " FROM images ORDER BY id");
    while (q.executeStep()) out.push_back(FromRow(q));
    return Status::Ok();
  });
  if (!st.ok()) return Err(st);
  return out;
}

Result<int> ImageStore::CountByImageId(const std::string& image_id) {
  int n = 0;
  Status st = db_->Run([&](SQLite::Database& db) {
    SQLite::Statement q(db, "SELECT COUNT(*) FROM images WHERE image_id = ?");
    q.bind(1, image_id);
    if (q.executeStep()) n = q.getColumn(0).getInt();
    return Status::Ok();
  });
  if (!st.ok()) return Err(st);
  return n;
}

Status ImageStore::Delete(const std::string& uuid) {
  return db_->Run([&](SQLite::Database& db) {
    SQLite::Statement q(db, "DELETE FROM images WHERE uuid = ?");
    q.bind(1, uuid);
    q.exec();
    return Status::Ok();
  });
}

}  // namespace zunvm
