// ManualClock: a Clock whose time moves only when a test says (Advance), so healthcheck
// intervals and restart back-off run on simulated time. Work posted for later is posted to its
// executor when Advance passes its due time, in due order. Thread-safe.
#pragma once

#include <algorithm>
#include <mutex>
#include <vector>

#include "common/clock.h"

namespace zunvm {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint(std::chrono::hours(24 * 365 * 56))) : now_(start) {}

  TimePoint Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void PostAfter(SerialExecutor& executor, std::chrono::milliseconds delay, const std::string& key,
                 std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    later_.push_back({now_ + delay, seq_++, &executor, key, std::move(fn)});
  }

  // Moves time on by `d` and posts what fell due meanwhile.
  void Advance(std::chrono::milliseconds d) {
    std::vector<Later> due;
    {
      std::lock_guard<std::mutex> lock(mu_);
      now_ += d;
      for (auto it = later_.begin(); it != later_.end();) {
        if (it->when <= now_) {
          due.push_back(std::move(*it));
          it = later_.erase(it);
        } else {
          ++it;
        }
      }
    }
    std::sort(due.begin(), due.end(), [](const Later& a, const Later& b) {
      return a.when != b.when ? a.when < b.when : a.seq < b.seq;
    });
    for (auto& l : due) l.executor->Post(l.key, std::move(l.fn));
  }
  // Work waiting for its time.
  size_t Pending() const {
    std::lock_guard<std::mutex> lock(mu_);
    return later_.size();
  }

 private:
  struct Later {
    TimePoint when;
    uint64_t seq;
    SerialExecutor* executor;
    std::string key;
    std::function<void()> fn;
  };
  mutable std::mutex mu_;
  TimePoint now_;
  uint64_t seq_ = 0;
  std::vector<Later> later_;
};

}  // namespace zunvm
