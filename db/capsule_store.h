// CapsuleStore: capsule records in SQLite (the whole record as JSON in `data`), and a capsule
// with its members written or removed as one transaction (members are rows of `containers`
// with capsule_id set).
// Thread safety: thread-safe (through Database). Callers serialise writes to one capsule.
// Errors: NotFound, Conflict (a uuid taken), Internal.
#pragma once

#include <string>
#include <vector>

#include "db/database.h"
#include "model/capsule.h"
#include "model/container.h"

namespace zunvm {

class CapsuleStore {
 public:
  explicit CapsuleStore(Database* db) : db_(db) {}
  // The capsule and every member, or nothing; sets the ids.
  Status Insert(Capsule& c, std::vector<Container>& members);
  Status Update(const Capsule& c);
  Result<Capsule> Get(const std::string& uuid);
  Result<std::vector<Capsule>> FindByName(const std::string& name);
  // In insertion order, after `marker_id` (0: from the start), at most `limit`.
  Result<std::vector<Capsule>> List(int64_t marker_id, size_t limit, bool descending);
  Result<std::vector<Capsule>> All();
  // The capsule, its members and their action history. Deleting a missing one is OK.
  Status Delete(const std::string& uuid);

 private:
  Database* db_;  // not owned
};

// The storage codec (exposed for tests). FromStorage throws nlohmann::json exceptions on
// malformed input; callers at the DB edge catch them.
nlohmann::json CapsuleToStorage(const Capsule& c);
Capsule CapsuleFromStorage(const nlohmann::json& j);

}  // namespace zunvm
