// Rendered container views, reused while nothing they show has changed: the same stored record
// (Container::revision), base URL, admin flag and status detail ("Up 5 minutes" moves with the
// clock). A list of unchanged containers then costs string copies instead of building and
// serialising a JSON document per row.
//
// Thread safety: thread-safe; renders outside its lock. Bounded: it starts over past
// kMaxEntries containers.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"
#include "model/container.h"

namespace zunvm {

class ContainerViewCache {
 public:
  static constexpr size_t kMaxEntries = 4096;

  // Appends ContainerView(c, base_url, now, admin) serialised with DumpJson to `out`.
  void AppendTo(std::string& out, const Container& c, const std::string& base_url, TimePoint now, bool admin);
  size_t Size();

 private:
  struct Entry {
    uint64_t revision = 0;
    bool admin = false;
    std::string base_url;
    std::string status_detail;
    std::string text;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // by uuid
};

}  // namespace zunvm
