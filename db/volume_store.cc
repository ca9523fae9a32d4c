#include "db/volume_store.h"

#include <map>

namespace zunvm {

namespace {

const char kColumns[] = "id, uuid, name, project_id, user_id, size_gib, format, path, auto_remove, created_at";

VolumeRecord FromRow(SQLite::Statement& q) {
  VolumeRecord r;
  r.id = q.getColumn(0).getInt64();
  r.uuid = q.getColumn(1).getString();
  if (!q.getColumn(2).isNull()) r.name = q.getColumn(2).getString();
  r.project_id = q.getColumn(3).getString();
  r.user_id = q.getColumn(4).getString();
  r.size_gib = q.getColumn(5).getInt64();
  r.format = q.getColumn(6).getString();
  r.path = q.getColumn(7).getString();
  r.auto_remove = q.getColumn(8).getInt() != 0;
  r.created_at = q.getColumn(9).getString();
  return r;
}

VolumeAttachment AttachmentFromRow(SQLite::Statement& q) {
  return {q.getColumn(0).getString(), q.getColumn(1).getString(), q.getColumn(2).getString(), q.getColumn(3).getInt() != 0};
}

}  // namespace

Status VolumeStore::Insert(VolumeRecord& r) {
  return db_->Run([&](SQLite::Database& db) {
    SQLite::Statement q(db, "INSERT INTO volumes(uuid, name, project_id, user_id, size_gib, format, path, auto_remove, created_at) "
                            "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, r.uuid);
    if (r.name) q.bind(2, *r.name);
    else q.bind(2);
    q.bind(3, r.project_id);
    q.bind(4, r.user_id);
    q.bind(5, r.size_gib);
    q.bind(6, r.format);
    q.bind(7, r.path);
    q.bind(8, r.auto_remove ? 1 : 0);
    q.bind(9, r.created_at);
    q.exec();
    r.id = db.getLastInsertRowid();
    return Status::Ok();
  });
}

Result<std::vector<VolumeRecord>> VolumeStore::Select(const std::string& where, const std::vector<std::string>& args) {
  std::vector<VolumeRecord> out;
  Status st = db_->Read([&](SQLite::Database& db) {
    SQLite::Statement q(db, std::string("SELECT ") + kColumns + " FROM volumes" + where + " ORDER BY id");
    for (size_t i = 0; i < args.size(); ++i) q.bind(static_cast<int>(i + 1), args[i]);
    while (q.executeStep()) out.push_back(FromRow(q));
    SQLite::Statement a(db, "SELECT volume_uuid, container_uuid, destination, read_only FROM volume_attachments "
                            "ORDER BY container_uuid, destination");
    std::map<std::string, VolumeRecord*> by_uuid;
    for (auto& v : out) by_uuid[v.uuid] = &v;
    while (a.executeStep()) {
      VolumeAttachment att = AttachmentFromRow(a);
      if (auto it = by_uuid.find(att.volume_uuid); it != by_uuid.end()) it->second->attachments.push_back(att);
    }
    return Status::Ok();
  });
  if (!st.ok()) return Err(st);
  return out;
}

Result<VolumeRecord> VolumeStore::Get(const std::string& uuid) {
  auto all = Select(" WHERE uuid = ?", {uuid});
  if (!all) return Err(all.error());
  if (all->empty()) return Err(Status::NotFound("Volume " + uuid + " could not be found.", "VolumeNotFound"));
  return all->front();
}

Result<VolumeRecord> VolumeStore::GetByName(const std::string& project_id, const std::string& name) {
  auto all = Select(" WHERE project_id = ? AND name = ?", {project_id, name});
  if (!all) return Err(all.error());
  if (all->empty()) return Err(Status::NotFound("Volume " + name + " could not be found.", "VolumeNotFound"));
  return all->front();
}

Result<std::vector<VolumeRecord>> VolumeStore::All() { return Select("", {}); }

Status VolumeStore::Delete(const std::string& uuid) {
  return db_->Run([&](SQLite::Database& db) {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement n(db, "SELECT COUNT(*) FROM volume_attachments WHERE volume_uuid = ?");
    n.bind(1, uuid);
    if (n.executeStep() && n.getColumn(0).getInt() > 0) {
      return Status::Conflict("Volume " + uuid + " is attached to a container.", "VolumeInUse");
    }
    SQLite::Statement q(db, "DELETE FROM volumes WHERE uuid = ?");
    q.bind(1, uuid);
    q.exec();
    tx.commit();
    return Status::Ok();
  });
}

Status VolumeStore::Attach(const std::vector<VolumeAttachment>& atts) {
  return db_->Run([&](SQLite::Database& db) {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    for (const auto& att : atts) {
      SQLite::Statement other(db, "SELECT container_uuid, read_only FROM volume_attachments "
                                  "WHERE volume_uuid = ? AND container_uuid != ?");
      other.bind(1, att.volume_uuid);
      other.bind(2, att.container_uuid);
      while (other.executeStep()) {
        if (!att.read_only || other.getColumn(1).getInt() == 0) {
          return Status::Conflict("Volume " + att.volume_uuid + " is in use by container " + other.getColumn(0).getString() +
                                      ": a volume is shared only when every container mounts it read-only.",
                                  "VolumeInUse");
        }
      }
      SQLite::Statement ins(db, "INSERT OR REPLACE INTO volume_attachments(volume_uuid, container_uuid, destination, read_only) "
                                "VALUES(?, ?, ?, ?)");
      ins.bind(1, att.volume_uuid);
      ins.bind(2, att.container_uuid);
      ins.bind(3, att.destination);
      ins.bind(4, att.read_only ? 1 : 0);
      ins.exec();
    }
    tx.commit();
    return Status::Ok();
  });
}

Status VolumeStore::DetachContainer(const std::string& container_uuid) {
  auto n = db_->Exec("DELETE FROM volume_attachments WHERE container_uuid = ?", container_uuid);
  return n ? Status::Ok() : n.error();
}

Result<std::vector<std::string>> VolumeStore::AttachedContainers() {
  return db_->Query<std::string>("SELECT DISTINCT container_uuid FROM volume_attachments ORDER BY container_uuid",
                                 [](SQLite::Statement& q) { return q.getColumn(0).getString(); });
}

}  // namespace zunvm
