// LogStore: each container's stdout/stderr appended on the host, one file per container in
// CRI log format ("<RFC3339Nano> <stdout|stderr> <F|P> <text>"; P marks a line continued by
// the next record), so `logs` works after the process exits and after a daemon restart.
// When a file passes `max_bytes` it is rotated once (<uuid>.log.1) and reads span both.
//
// Thread safety: thread-safe; appends to one container are applied in call order.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "common/status.h"
#include "common/timefmt.h"
#include "driver/driver.h"

namespace zunvm {

struct LogQuery {
  bool stdout_ = true;
  bool stderr_ = true;
  bool timestamps = false;
  std::optional<int64_t> tail;          // last N lines; nullopt: all
  std::optional<TimePoint> since;       // lines at or after
};

class LogStore {
 public:
  LogStore(std::string dir, int64_t max_bytes);

  Status Append(const std::string& uuid, Stream stream, const std::string& data, TimePoint when);
  // Docker-style text: lines of the selected streams in order, each prefixed by its
  // timestamp and a space when `timestamps`.
  Result<std::string> Read(const std::string& uuid, const LogQuery& q);
  Status Remove(const std::string& uuid);

 private:
  std::string PathFor(const std::string& uuid) const;
  std::mutex mu_;
  std::string dir_;
  int64_t max_bytes_;
};

}  // namespace zunvm
