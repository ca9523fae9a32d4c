// Small key/value facts of the daemon (e.g. this host's stable uuid).
#pragma once

#include <optional>
#include <string>

#include "db/database.h"

namespace zunvm {

class MetaStore {
 public:
  explicit MetaStore(Database* db) : db_(db) {}
  Result<std::optional<std::string>> Get(const std::string& key);
  Status Put(const std::string& key, const std::string& value);
  // Returns the stored value, storing `make()`'s result first if the key is absent.
  Result<std::string> GetOrCreate(const std::string& key, const std::string& value_if_absent);

 private:
  Database* db_;  // not owned
};

}  // namespace zunvm
