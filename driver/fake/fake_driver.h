// FakeDriver: an in-process SandboxDriver for unit tests and for running the API without VMs.
// Sandboxes behave like Docker containers from the API's point of view (states, exit codes,
// output, exec, archives) with processes simulated by RunFakeProgram. With a state file the
// sandboxes are persisted after every change and reloaded, so a daemon restart finds running
// sandboxes still running, as real VMs would be.
//
// Thread safety: all methods are thread-safe (one mutex, never held while calling the
// DriverEvents sink). Events and process timers run on one driver-owned thread; events that
// become due before SetEvents() are held until it is called.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "driver/driver.h"
#include "driver/fake/fake_program.h"
#include "driver/fake/tar_fs.h"

namespace zunvm {

class FakeDriver : public SandboxDriver {
 public:
  // `state_file` empty: nothing is persisted. A missing or corrupt file starts empty.
  explicit FakeDriver(std::string state_file = "");
  ~FakeDriver() override;

  std::string Name() const override { return "fake"; }
  std::vector<std::string> Runtimes() const override { return {"kata"}; }
  void SetEvents(DriverEvents* events) override;

  Result<SandboxInfo> Create(const SandboxSpec& spec) override;
  Status Start(const std::string& uuid) override;
  Result<int> Stop(const std::string& uuid, std::chrono::seconds timeout) override;
  Status Kill(const std::string& uuid, int signal) override;
  Status Pause(const std::string& uuid) override;
  Status Unpause(const std::string& uuid) override;
  Status Delete(const std::string& uuid, bool force) override;
  Result<SandboxInfo> Inspect(const std::string& uuid) override;
  Result<std::vector<SandboxInfo>> List() override;
  Result<ExecResult> Exec(const std::string& uuid, const std::vector<std::string>& argv,
                          std::chrono::seconds timeout) override;
  Status ResizeTty(const std::string& uuid, int width, int height) override;
  Result<TopResult> Top(const std::string& uuid, const std::string& ps_args) override;
  Result<SandboxStats> Stats(const std::string& uuid) override;
  Result<Archive> GetArchive(const std::string& uuid, const std::string& path) override;
  Status PutArchive(const std::string& uuid, const std::string& path,
                    const std::string& tar) override;
  Result<bool> Update(const std::string& uuid, double cpu, int64_t memory_mib) override;
  Result<std::string> Commit(const std::string& uuid, const std::string& repository,
                             const std::string& tag) override;

 private:
  using Clock = std::chrono::system_clock;
  struct Box {
    SandboxSpec spec;
    std::string sandbox_id;
    SandboxState state = SandboxState::kCreated;
    std::optional<int> exit_code;
    TarFs fs;
    uint64_t token = 0;                       // invalidates scheduled exits
    std::optional<Clock::time_point> exit_at; // when a running finite process ends
    double paused_remaining = -1;             // seconds left when paused (-1: runs forever)
    int exit_when_done = 0;
  };
  struct Event {
    Clock::time_point due;
    uint64_t seq;
    enum Kind { kOutput, kExit, kTimer } kind;
    std::string uuid;
    Stream stream = Stream::kStdout;
    std::string data;
    int code = 0;
    uint64_t token = 0;
    bool operator>(const Event& o) const { return due != o.due ? due > o.due : seq > o.seq; }
  };

  Result<Box*> Find(const std::string& uuid);           // REQUIRES: mu_ held
  void Enqueue(Event e);                                 // REQUIRES: mu_ held
  void ScheduleExit(const std::string& uuid, Box& box, double seconds, int code);  // mu_ held
  FakeEnv EnvOf(const Box& box) const;
  void Persist();                                        // REQUIRES: mu_ held
  void Load();
  void EventLoop();

  std::string state_file_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Box> boxes_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  uint64_t seq_ = 0;
  DriverEvents* sink_ = nullptr;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace zunvm
