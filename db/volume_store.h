// VolumeStore: zunvmd's volumes and their attachments in SQLite. A volume is attached to a
// container from its create to its delete (its disk is part of the container's VM for that
// whole time); Attach admits a set of attachments atomically: a volume may be attached to
// several containers only when every attachment is read-only.
// Thread safety: thread-safe (through Database). Errors: NotFound, Conflict (name taken, a
// writer already attached, Delete while attached), Internal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "db/database.h"

namespace zunvm {

struct VolumeAttachment {
  std::string volume_uuid;
  std::string container_uuid;
  std::string destination;
  bool read_only = false;
};

struct VolumeRecord {
  int64_t id = 0;
  std::string uuid;
  std::optional<std::string> name;  // none: anonymous (a mount's `size`)
  std::string project_id;
  std::string user_id;
  int64_t size_gib = 1;
  std::string format = "ext4";
  std::string path;                 // the disk image on the host
  bool auto_remove = false;         // removed with the container that made it
  std::string created_at;
  std::vector<VolumeAttachment> attachments;  // filled by Get/GetByName/All
};

class VolumeStore {
 public:
  explicit VolumeStore(Database* db) : db_(db) {}
  // Sets r.id; Conflict when the project already has a volume of that name.
  Status Insert(VolumeRecord& r);
  Result<VolumeRecord> Get(const std::string& uuid);
  Result<VolumeRecord> GetByName(const std::string& project_id, const std::string& name);
  Result<std::vector<VolumeRecord>> All();
  // Removes the row unless it is attached (Conflict).
  Status Delete(const std::string& uuid);
  // All of `atts` or none: Conflict when one of them would share a volume with another
  // container's attachment where either side writes.
  Status Attach(const std::vector<VolumeAttachment>& atts);
  // Drops every attachment of the container.
  Status DetachContainer(const std::string& container_uuid);
  // Containers that hold an attachment.
  Result<std::vector<std::string>> AttachedContainers();

 private:
  Result<std::vector<VolumeRecord>> Select(const std::string& where, const std::vector<std::string>& args);
  Database* db_;  // not owned
};

}  // namespace zunvm
