#include "common/serial_executor.h"

#include "common/logging.h"

namespace zunvm {

SerialExecutor::SerialExecutor(int threads) {
  if (threads < 1) threads = 1;
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  timer_ = std::thread([this] { TimerLoop(); });
}

SerialExecutor::~SerialExecutor() { Shutdown(); }

bool SerialExecutor::Post(const std::string& key, Task fn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return false;
  auto& q = queues_[key];
  q.push_back(std::move(fn));
  ++active_;
  if (q.size() == 1 && !running_.count(key)) {
    ready_.push_back(key);
    work_cv_.notify_one();
  }
  return true;
}

bool SerialExecutor::PostAfter(std::chrono::milliseconds delay, const std::string& key, Task fn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return false;
  timers_.push(Timed{std::chrono::steady_clock::now() + delay, timer_seq_++, key, std::move(fn)});
  ++active_;
  timer_cv_.notify_one();
  return true;
}

void SerialExecutor::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stopping_ || !ready_.empty(); });
    if (stopping_) return;
    std::string key = std::move(ready_.front());
    ready_.pop_front();
    auto& q = queues_[key];
    Task fn = std::move(q.front());
    q.pop_front();
    running_.insert(key);
    lock.unlock();
    try {
      fn();
    } catch (const std::exception& e) {
      Logger("service")->error("task for {} threw: {}", key, e.what());
    } catch (...) {
      Logger("service")->error("task for {} threw a non-standard exception", key);
    }
    fn = nullptr;
    lock.lock();
    running_.erase(key);
    auto it = queues_.find(key);
    if (it != queues_.end()) {
      if (it->second.empty()) {
        queues_.erase(it);
      } else {
        ready_.push_back(key);
        work_cv_.notify_one();
      }
    }
    --active_;
    if (active_ == 0) idle_cv_.notify_all();
  }
}

void SerialExecutor::TimerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (stopping_) return;
    if (timers_.empty()) {
      timer_cv_.wait(lock, [&] { return stopping_ || !timers_.empty(); });
      continue;
    }
    auto when = timers_.top().when;
    if (std::chrono::steady_clock::now() < when) {
      timer_cv_.wait_until(lock, when);
      continue;
    }
    Timed t = timers_.top();
    timers_.pop();
    auto& q = queues_[t.key];
    q.push_back(std::move(t.fn));  // already counted in active_
    if (q.size() == 1 && !running_.count(t.key)) {
      ready_.push_back(t.key);
      work_cv_.notify_one();
    }
  }
}

bool SerialExecutor::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [&] { return active_ == 0; });
}

void SerialExecutor::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
  }
  work_cv_.notify_all();
  timer_cv_.notify_all();
  for (auto& t : workers_) if (t.joinable()) t.join();
  workers_.clear();
  if (timer_.joinable()) timer_.join();
}

}  // namespace zunvm
