// LogStore: each container's stdout/stderr appended on the host, one file per container in
// CRI log format ("<RFC3339Nano> <stdout|stderr> <F|P> <text>"; P marks a line continued by
// the next record), so `logs` works after the process exits and after a daemon restart.
// When a file passes `max_bytes` it is rotated once (<uuid>.log.1) and reads span both.
//
// Exactly-once across restarts: a chunk with an OutputMark carries it in the CRI tag of its
// last record ("F:<boot>.<seq>", CRI readers take only the first tag), written in the same
// write(2) as the text. An Append whose mark is not after the last stored one of the same boot
// is a replay and is dropped, so a daemon killed between storing and acknowledging a chunk
// does not store it twice.
//
// Thread safety: thread-safe; appends to one container are applied in call order.
#pragma once

#include <cstdint>
#include <map>
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

  // Errors: Internal when the file cannot be written. A replayed chunk is Ok and not stored.
  Status Append(const std::string& uuid, Stream stream, const std::string& data, TimePoint when,
                const OutputMark& mark = {});
  // Docker-style text: lines of the selected streams in order, each prefixed by its
  // timestamp and a space when `timestamps`.
  Result<std::string> Read(const std::string& uuid, const LogQuery& q);
  Status Remove(const std::string& uuid);

 private:
  std::string PathFor(const std::string& uuid) const;
  // The last mark stored for `uuid`, read from its files the first time. Needs mu_.
  const OutputMark& LastMark(const std::string& uuid);
  std::mutex mu_;
  std::map<std::string, OutputMark> marks_;
  std::string dir_;
  int64_t max_bytes_;
};

}  // namespace zunvm
