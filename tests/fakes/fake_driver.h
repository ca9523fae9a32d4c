// FakeDriver: an in-process SandboxDriver for unit tests and for running the API without VMs.
// Sandboxes behave like Docker containers from the API's point of view (states, exit codes,
// output, exec, top, stats, archives); their processes are simulated by RunFakeProgram over a
// per-sandbox TarFs.
//
// Timing: a started process's output chunks and its exit happen at the simulated times
// RunFakeProgram computed, on a run-time clock that stands still while the sandbox is paused.
// Stop() ends a process as SIGTERM would (143, returned, no OnExit, as driver.h says); Kill()
// ends it with 128+signal, reported by OnExit. Exec() runs synchronously and waits for the
// simulated duration, up to its timeout (then DeadlineExceeded). Like Docker, Stop, Kill and
// forced Delete also work on a Paused sandbox, and an exec in progress ends (137) with its
// sandbox.
//
// Persistence: with a state file, every sandbox (spec, state, exit code, start time, files,
// the rest of its running process) is written to it (temp file + rename) after each change
// and loaded by the constructor, so a daemon restart finds running sandboxes still running and
// time that passed meanwhile counted, as VMs would. A missing, unreadable or corrupt file
// starts empty (with one warning) and is replaced at the next change.
//
// Thread safety: all methods are thread-safe; one mutex guards all state and is never held
// while calling the DriverEvents sink. Events and process timers run on one driver-owned
// thread; nothing is processed before SetEvents(), so events that become due earlier wait for
// it. The destructor stops that thread; it must not race with calls still in progress.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <atomic>
#include <map>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "driver/driver.h"
#include "tests/fakes/fake_program.h"
#include "tests/fakes/tar_fs.h"

namespace zunvm {

class FakeDriver : public SandboxDriver {
 public:
  // `state_file` empty: nothing is persisted.
  explicit FakeDriver(std::string state_file = "");
  ~FakeDriver() override;
  FakeDriver(const FakeDriver&) = delete;
  FakeDriver& operator=(const FakeDriver&) = delete;

  std::string Name() const override { return "fake"; }
  // The fake runs its programs without images unless a test asks it to want them.
  bool UsesImages() const override { return uses_images_; }
  void SetUsesImages(bool v) { uses_images_ = v; }
  // The spec of the last Create (tests).
  SandboxSpec LastSpec() const {
    std::lock_guard<std::mutex> l(spec_mu_);
    return last_spec_;
  }
  std::vector<std::string> Runtimes() const override { return runtimes_; }
  void SetRuntimes(std::vector<std::string> r) { runtimes_ = std::move(r); }
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
  // Consoles (fake_driver_console.cc): an interactive process is a terminal that echoes what
  // it is sent, answers a line "stty size" with its size and ends with 0 on a line "exit"
  // (a line "exit N": N); the main process's stdin echoes to its watchers. They end with their
  // sandbox (Stop, Kill, Delete, its process exiting).
  Result<std::string> ExecInteractive(const std::string& uuid, const std::vector<std::string>& argv, bool tty,
                                      int width, int height, std::shared_ptr<ProcessSink> sink) override;
  Result<uint64_t> Watch(const std::string& uuid, std::shared_ptr<ProcessSink> sink) override;
  void Unwatch(const std::string& uuid, uint64_t handle) override;
  Status WriteStdin(const std::string& uuid, const std::string& process, const std::string& data) override;
  Status CloseStdin(const std::string& uuid, const std::string& process) override;
  Status ResizeProcess(const std::string& uuid, const std::string& process, int width, int height) override;
  Result<TopResult> Top(const std::string& uuid, const std::string& ps_args) override;
  Result<SandboxStats> Stats(const std::string& uuid) override;
  Result<Archive> GetArchive(const std::string& uuid, const std::string& path) override;
  Status PutArchive(const std::string& uuid, const std::string& path,
                    const std::string& tar) override;
  Result<bool> Update(const std::string& uuid, double cpu, int64_t memory_mib) override;
  Status AttachNic(const std::string& uuid, const SandboxNic& nic) override;
  Status DetachNic(const std::string& uuid, const std::string& port_id) override;
  Result<std::vector<std::string>> NicPorts(const std::string& uuid) override;
  Result<std::string> Commit(const std::string& uuid, const std::string& repository,
                             const std::string& tag) override;

 private:
  using Steady = std::chrono::steady_clock;
  using Wall = std::chrono::system_clock;

  struct Box {
    SandboxSpec spec;
    std::string sandbox_id;
    std::string pod;  // a pod member: its pod's uuid (a pod's own box runs no process)
    SandboxState state = SandboxState::kCreated;
    std::optional<int> exit_code;
    TarFs fs;
    Wall::time_point started_at{};
    uint64_t run = 0;    // driver-unique id of the current start; events of other runs are dropped
    uint64_t timer = 0;  // id of the armed process timer; 0: none
    // The main process while Running or Paused: what it has yet to do, on its run-time clock.
    std::deque<FakeChunk> pending;
    double exit_after = 0;  // run time of its exit, unless `forever`
    bool forever = false;
    int exit_with = 0;
    Steady::time_point origin{};       // Running: when its run time was 0
    double paused_at = 0;              // Paused: its run time when frozen
    std::map<int, std::string> execs;  // pid -> command line, execs in progress
    int next_pid = 10;
  };
  // Queued for the event thread: a process timer, or the exit of a killed process.
  struct Event {
    Steady::time_point due;
    uint64_t seq = 0;
    std::string uuid;
    uint64_t run = 0;    // dropped unless the sandbox is still on this run
    uint64_t timer = 0;  // 0: a kill's exit with `code`
    int code = 0;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.due != b.due ? a.due > b.due : a.seq > b.seq;
    }
  };
  struct Delivery {
    std::string uuid;
    bool exit = false;
    Stream stream = Stream::kStdout;
    std::string data;
    int code = 0;
  };

  // All REQUIRE mu_ held.
  Result<Box*> Find(const std::string& uuid);
  double RunTime(const Box& box) const;
  void Arm(const std::string& uuid, Box& box);  // schedules the process's next step
  void Halt(Box& box, int code);                // ends the process now, without an event
  void Fire(const Event& e, std::vector<Delivery>& out);
  FakeEnv EnvOf(const Box& box) const;
  void Persist();

  // Ends the sandbox's console processes and watchers (mu_ held; takes console_mu_).
  void CloseConsoles(const std::string& uuid, std::optional<int> code);

  void Load();  // constructor only
  void EventLoop();

  const std::string state_file_;
  std::mutex mu_;
  std::condition_variable cv_;  // queue changes, sink set, processes ending, shutdown
  std::map<std::string, Box> boxes_;
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
  uint64_t seq_ = 0;
  uint64_t ids_ = 0;  // source of run and timer ids
  DriverEvents* sink_ = nullptr;
  bool stopping_ = false;
  std::thread thread_;  // last: started once everything above exists
  std::atomic<bool> uses_images_{false};
  std::vector<std::string> runtimes_ = {"kata", "kata-debian", "runc", "crun"};  // set before use
  mutable std::mutex spec_mu_;
  SandboxSpec last_spec_;
  // Console processes ("" = the main process's watchers). Lock order: mu_, then console_mu_.
  struct ConsoleProc {
    std::string uuid;
    std::shared_ptr<ProcessSink> sink;
    int width = 0, height = 0;
    std::string line;  // typed since the last newline
    bool stdin_open = true;
  };
  std::mutex console_mu_;
  std::map<std::string, ConsoleProc> consoles_;                  // process id ->
  std::map<uint64_t, std::pair<std::string, std::shared_ptr<ProcessSink>>> watchers_;  // handle -> uuid, sink
  uint64_t console_ids_ = 0;
};

}  // namespace zunvm
