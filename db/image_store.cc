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
    if (r.uuid.empty()) r.uuid = NewUuid();
    if (r.created_at.empty()) r.created_at = FormatApiTime(std::chrono::system_clock::now());
    // A repo:tag already here keeps its uuid and creation time and points at the new image.
    SQLite::Statement up(db,
                         "INSERT INTO images(uuid, repo, tag, image_id, digest, size, data, created_at) "
                         "VALUES(?, ?, ?, ?, ?, ?, ?, ?) "
                         "ON CONFLICT(repo, tag) DO UPDATE SET image_id = excluded.image_id, "
                         "digest = excluded.digest, size = excluded.size, data = excluded.data");
    up.bind(1, r.uuid);
    up.bind(2, r.repo);
    up.bind(3, r.tag);
    up.bind(4, r.image_id);
    up.bind(5, r.digest);
    up.bind(6, r.size);
    up.bind(7, json{{"config", r.config}, {"layers", r.layers}}.dump());
    up.bind(8, r.created_at);
    up.exec();
    SQLite::Statement back(db, "SELECT id, uuid, created_at FROM images WHERE repo = ? AND tag = ?");
    back.bind(1, r.repo);
    back.bind(2, r.tag);
    if (back.executeStep()) {
      r.id = back.getColumn(0).getInt64();
      r.uuid = back.getColumn(1).getString();
      r.created_at = back.getColumn(2).getString();
    }
    tx.commit();
    return Status::Ok();
  });
}

template <typename... Args>
Result<ImageRecord> ImageStore::One(const std::string& where, const std::string& name, const Args&... args) {
  auto out = db_->QueryOne<ImageRecord>(std::string("SELECT ") + kColumns + " FROM images WHERE " + where,
                                        FromRow, args...);
  if (!out) return Err(out.error());
  if (!*out) return Err(Status::NotFound("Image " + name + " could not be found."));
  return **out;
}

Result<ImageRecord> ImageStore::Get(const std::string& uuid) { return One("uuid = ?", uuid, uuid); }

Result<ImageRecord> ImageStore::GetByName(const std::string& repo, const std::string& tag) {
  return One("repo = ? AND tag = ?", repo + ":" + tag, repo, tag);
}

Result<std::vector<ImageRecord>> ImageStore::All() {
  return db_->Query<ImageRecord>(std::string("SELECT ") + kColumns + " FROM images ORDER BY id", FromRow);
}

Result<std::vector<ImageRecord>> ImageStore::ByImageId(const std::string& image_id) {
  return db_->Query<ImageRecord>(std::string("SELECT ") + kColumns + " FROM images WHERE image_id = ? ORDER BY id",
                                 FromRow, image_id);
}

Result<int> ImageStore::CountByImageId(const std::string& image_id) {
  auto n = db_->QueryOne<int>("SELECT COUNT(*) FROM images WHERE image_id = ?",
                              [](SQLite::Statement& q) { return q.getColumn(0).getInt(); }, image_id);
  if (!n) return Err(n.error());
  return n->value_or(0);
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
