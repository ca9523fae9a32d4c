// Test helper: collects an AgentClient's events (output per exec and stream, exits, OOM) and
// lets a test wait for them with a deadline. Thread-safe: On() runs on the client's reader.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/protocol/message.h"
#include "agent/protocol/typed.h"

namespace zunvm::agent {

class Events {
 public:
  void On(Message& m) {
    std::lock_guard<std::mutex> l(mu_);
    last_seq_ = std::max(last_seq_, m.body.value("seq", uint64_t{0}));
    if (m.op == op::OutputEvent::kName) {
      if (auto ev = Get<op::OutputEvent>(m)) (ev->stream == 1 ? out_[ev->exec_id] : err_[ev->exec_id]) += ev->data;
    } else if (m.op == op::ExitEvent::kName) {
      if (auto ev = Get<op::ExitEvent>(m)) {
        exit_[ev->status.exec_id] = static_cast<int>(ev->status.exit_code);
        signal_[ev->status.exec_id] = static_cast<int>(ev->status.signal);
      }
    } else if (m.op == op::OomEvent::kName) {
      if (auto ev = Get<op::OomEvent>(m)) oom_.push_back(ev->container);
    }
    cv_.notify_all();
  }
  std::optional<int> WaitExit(const std::string& id,
                              std::chrono::milliseconds t = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_for(l, t, [&] { return exit_.count(id) > 0; })) return std::nullopt;
    return exit_[id];
  }
  // Waits until the exec's stdout contains `needle`.
  bool WaitOut(const std::string& id, const std::string& needle,
               std::chrono::milliseconds t = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, t, [&] { return out_[id].find(needle) != std::string::npos; });
  }
  // Until the process's stdout is longer than `n` bytes.
  bool WaitOutLonger(const std::string& id, size_t n, std::chrono::milliseconds t = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, t, [&] { return out_[id].size() > n; });
  }
  bool WaitOom(const std::string& container, std::chrono::milliseconds t = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, t, [&] {
      for (const auto& c : oom_) if (c == container) return true;
      return false;
    });
  }
  // The last event stored here, as a consumer that persists events (zunvmd's log) knows it:
  // consistent with Out(), unlike the client's LastSeq() while a handler runs.
  uint64_t LastSeq() { std::lock_guard<std::mutex> l(mu_); return last_seq_; }
  int Signal(const std::string& id) { std::lock_guard<std::mutex> l(mu_); return signal_[id]; }
  std::string Out(const std::string& id) { std::lock_guard<std::mutex> l(mu_); return out_[id]; }
  std::string Err(const std::string& id) { std::lock_guard<std::mutex> l(mu_); return err_[id]; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> out_, err_;
  std::map<std::string, int> exit_, signal_;
  std::vector<std::string> oom_;
  uint64_t last_seq_ = 0;
};

}  // namespace zunvm::agent
