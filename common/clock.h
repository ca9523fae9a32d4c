// Clock: the wall time stamped on records and the delays of timed work (restart back-off,
// healthcheck intervals), behind one interface so tests run them on simulated time
// (tests/fakes/manual_clock.h). SystemClock is the real one.
//
// Thread safety: implementations are thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "common/serial_executor.h"
#include "common/timefmt.h"

namespace zunvm {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  // Posts `fn` on `executor` under `key` once `delay` has passed on this clock.
  virtual void PostAfter(SerialExecutor& executor, std::chrono::milliseconds delay, const std::string& key,
                         std::function<void()> fn) = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  void PostAfter(SerialExecutor& executor, std::chrono::milliseconds delay, const std::string& key,
                 std::function<void()> fn) override {
    executor.PostAfter(delay, key, std::move(fn));
  }
};

}  // namespace zunvm
