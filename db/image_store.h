// ImageStore: image records in SQLite, one per repo:tag (an untagged image has tag "").
// Indexed columns carry what lookups need; config and layers are kept as JSON in `data`.
// Thread safety: thread-safe (through Database). Errors: NotFound, Conflict (repo:tag taken,
// on Insert), Internal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "db/database.h"

namespace zunvm {

struct ImageRecord {
  int64_t id = 0;
  std::string uuid;
  std::string repo;       // familiar name: "busybox", "127.0.0.1:5000/team/app"
  std::string tag;
  std::string image_id;   // config digest
  std::string digest;     // manifest digest
  int64_t size = 0;
  nlohmann::json config = nlohmann::json::object();  // image::ConfigToJson
  std::vector<std::string> layers;                    // blob digests, lowest first
  std::string created_at;
};

class ImageStore {
 public:
  explicit ImageStore(Database* db) : db_(db) {}
  // Inserts, or points an existing repo:tag at this image (keeping its uuid); sets r.id/uuid.
  Status Upsert(ImageRecord& r);
  Result<ImageRecord> Get(const std::string& uuid);
  Result<ImageRecord> GetByName(const std::string& repo, const std::string& tag);
  Result<std::vector<ImageRecord>> All();
  // Rows still naming this image id (another tag of the same image).
  Result<int> CountByImageId(const std::string& image_id);
  // Every row of this image id (its tags), oldest first.
  Result<std::vector<ImageRecord>> ByImageId(const std::string& image_id);
  Status Delete(const std::string& uuid);

 private:
  // The row matching `where` (a fixed SQL condition with ? for `args`); NotFound names `name`.
  template <typename... Args>
  Result<ImageRecord> One(const std::string& where, const std::string& name, const Args&... args);
  Database* db_;  // not owned
};

}  // namespace zunvm
