// SerialExecutor: a fixed pool of worker threads that runs tasks posted under a key one at a
// time and in order per key (one operation at a time per container), tasks of different keys
// in parallel. Delayed posts (restart back-off, sync ticks) go through one timer thread.
//
// Thread safety: all methods are thread-safe. Tasks must not throw (an escaping exception is
// caught and logged). Shutdown() stops accepting work, lets running tasks finish, drops the
// queued ones and joins the threads; the destructor calls it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <queue>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace zunvm {

class SerialExecutor {
 public:
  using Task = std::function<void()>;
  explicit SerialExecutor(int threads);
  ~SerialExecutor();

  // Runs `fn` after every task posted earlier under `key`. Returns false after Shutdown.
  bool Post(const std::string& key, Task fn);
  // Posts `fn` under `key` once `delay` has passed.
  bool PostAfter(std::chrono::milliseconds delay, const std::string& key, Task fn);
  // Blocks until no task is queued, running or pending on the timer, or the deadline passes.
  // Returns whether idle was reached (for tests and orderly shutdown).
  bool WaitIdle(std::chrono::milliseconds timeout);
  void Shutdown();

 private:
  struct Timed {
    std::chrono::steady_clock::time_point when;
    uint64_t seq;
    std::string key;
    Task fn;
    bool operator>(const Timed& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };
  void WorkerLoop();
  void TimerLoop();

  std::mutex mu_;
  std::condition_variable work_cv_, idle_cv_, timer_cv_;
  std::map<std::string, std::deque<Task>> queues_;  // keys with pending tasks
  std::deque<std::string> ready_;                   // keys runnable now (not running)
  std::set<std::string> running_;                   // keys with a task on a worker
  std::priority_queue<Timed, std::vector<Timed>, std::greater<Timed>> timers_;
  uint64_t timer_seq_ = 0;
  size_t active_ = 0;                               // tasks queued + running
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::thread timer_;
};

}  // namespace zunvm
