// Numbered schema migrations. Append new steps; never edit a released one.
#include <string>
#include <vector>

#include "db/database.h"

namespace zunvm {

namespace {
const std::vector<std::string>& Steps() {
  static const std::vector<std::string> steps = {
      // 1: containers, their action history, daemon metadata.
      R"sql(
      CREATE TABLE containers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        image TEXT NOT NULL,
        status TEXT NOT NULL,
        task_state TEXT,
        memory INTEGER NOT NULL,
        cpu REAL NOT NULL,
        host TEXT,
        project_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        auto_remove INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER,
        data TEXT NOT NULL
      );
      CREATE INDEX containers_name ON containers(name);
      CREATE TABLE container_actions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT NOT NULL,
        container_uuid TEXT NOT NULL,
        action TEXT NOT NULL,
        user_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        start_time INTEGER NOT NULL,
        finish_time INTEGER,
        message TEXT
      );
      CREATE INDEX container_actions_uuid ON container_actions(container_uuid);
      CREATE TABLE container_action_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        action_id INTEGER NOT NULL REFERENCES container_actions(id) ON DELETE CASCADE,
        event TEXT NOT NULL,
        start_time INTEGER NOT NULL,
        finish_time INTEGER,
        result TEXT,
        traceback TEXT
      );
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      )sql",
      // 2: images (one row per repo:tag; blobs live in the content-addressed store on disk).
      // 3: networks and their address allocations.
      R"sql(
      CREATE TABLE images (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        repo TEXT NOT NULL,
        tag TEXT NOT NULL,
        image_id TEXT NOT NULL,
        digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE(repo, tag)
      );
      CREATE INDEX images_image_id ON images(image_id);
      )sql",
      R"sql(
      CREATE TABLE networks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL UNIQUE,
        subnet TEXT NOT NULL UNIQUE,
        gateway TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE ip_allocations (
        network_uuid TEXT NOT NULL REFERENCES networks(uuid),
        address TEXT NOT NULL,
        container_uuid TEXT NOT NULL,
        port_id TEXT NOT NULL UNIQUE,
        mac TEXT NOT NULL UNIQUE,
        PRIMARY KEY (network_uuid, address)
      );
      CREATE INDEX ip_allocations_container ON ip_allocations(container_uuid);
      )sql",
      // 4: Neutron ports plugged in OpenStack mode (Neutron does their addresses).
      R"sql(
      CREATE TABLE neutron_ports (
        port_id TEXT PRIMARY KEY,
        container_uuid TEXT NOT NULL,
        data TEXT NOT NULL
      );
      CREATE INDEX neutron_ports_container ON neutron_ports(container_uuid);
      )sql",
      // 5: networks belong to a project ('' = shared by all: the default network, and those
      // made before projects); names are unique within a project. SQLite cannot drop the old
      // UNIQUE(name), so the table is rebuilt (foreign keys are off during migrations).
      R"sql(
      CREATE TABLE networks_v5 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        project_id TEXT NOT NULL DEFAULT '',
        subnet TEXT NOT NULL UNIQUE,
        gateway TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE(project_id, name)
      );
      INSERT INTO networks_v5(id, uuid, name, project_id, subnet, gateway, created_at)
        SELECT id, uuid, name, '', subnet, gateway, created_at FROM networks;
      DROP TABLE networks;
      ALTER TABLE networks_v5 RENAME TO networks;
      )sql",
      // 6: zunvmd's volumes (a named one is unique in its project; an anonymous one, made by a
      // mount's `size`, has no name and is removed with its container) and which containers
      // mount them.
      R"sql(
      CREATE TABLE volumes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        name TEXT,
        project_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        size_gib INTEGER NOT NULL,
        format TEXT NOT NULL,
        path TEXT NOT NULL,
        auto_remove INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE(project_id, name)
      );
      CREATE TABLE volume_attachments (
        volume_uuid TEXT NOT NULL REFERENCES volumes(uuid),
        container_uuid TEXT NOT NULL,
        destination TEXT NOT NULL,
        read_only INTEGER NOT NULL,
        PRIMARY KEY (volume_uuid, container_uuid, destination)
      );
      CREATE INDEX volume_attachments_container ON volume_attachments(container_uuid);
      )sql",
      // 7: capsules (the whole record as JSON in `data`; a member container names its capsule
      // in its own `data`).
      R"sql(
      CREATE TABLE capsules (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        name TEXT,
        project_id TEXT NOT NULL,
        data TEXT NOT NULL
      );
      )sql",
      // 8: a capsule member's capsule as a column too, so that lists and capsule deletes
      // need not read every record's JSON; names indexed as the uniqueness check compares
      // them (ignoring ASCII case), so a create does not scan every container.
      R"sql(
      ALTER TABLE containers ADD COLUMN capsule_id TEXT;
      UPDATE containers SET capsule_id = json_extract(data, '$.capsule_id');
      CREATE INDEX containers_capsule ON containers(capsule_id);
      CREATE INDEX containers_lower_name ON containers(lower(name));
      )sql",
      // 9: an action's events by action: finishing an action, reading one, and deleting a
      // container's history (and the ON DELETE CASCADE) scanned every event of every container.
      R"sql(
      CREATE INDEX container_action_events_action ON container_action_events(action_id);
      )sql",
  };
  return steps;
}
}  // namespace

int LatestSchemaVersion() { return static_cast<int>(Steps().size()); }

Status ApplyMigrations(SQLite::Database& db) {
  // Off while tables are rebuilt (SQLite's procedure for schema changes ALTER cannot make);
  // foreign_key_check proves the result consistent before the commit. Not settable inside a
  // transaction, hence around it.
  db.exec("PRAGMA foreign_keys=OFF");
  struct KeysBackOn {
    SQLite::Database& db;
    ~KeysBackOn() {
      try {
        db.exec("PRAGMA foreign_keys=ON");
      } catch (const std::exception&) {  // the connection is unusable; its next use says so
      }
    }
  } keys_back_on{db};
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  int current = db.execAndGet("PRAGMA user_version").getInt();
  int latest = LatestSchemaVersion();
  if (current > latest) {
    return Status::Internal("schema version " + std::to_string(current) + " is newer than this zunvmd's (" +
                            std::to_string(latest) + "): a newer zunvmd made it, and zunvmd never downgrades a "
                            "database; run that zunvmd (the file is left as it is)");
  }
  for (int v = current; v < latest; ++v) {
    db.exec(Steps()[static_cast<size_t>(v)]);
    db.exec("PRAGMA user_version = " + std::to_string(v + 1));
  }
  SQLite::Statement check(db, "PRAGMA foreign_key_check");
  if (current < latest && check.executeStep()) {
    return Status::Internal("database migration left a dangling reference in table " +
                            check.getColumn(0).getString());
  }
  tx.commit();
  return Status::Ok();
}

}  // namespace zunvm
