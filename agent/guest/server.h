// AgentServer: the guest agent's protocol loop. Serves requests from the host over one channel
// (the virtio-serial port, or a socket in tests), runs processes, and streams their output and
// exits back as events. Single-threaded: one poll loop over the channel, the processes' pipes
// and a signalfd for SIGCHLD.
//
// The host is untrusted input too: a bad frame drops the connection (the agent then waits for
// the next host), a bad message gets an error response, nothing crashes the agent.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/guest/container.h"
#include "agent/protocol/frame.h"
#include "agent/protocol/message.h"

namespace zunvm::agent {

// Guest uptime in ms (CLOCK_BOOTTIME).
int64_t UptimeMs();

struct ServerOptions {
  bool pid1 = false;            // reaps every child; shutdown powers the VM off
  bool exit_on_eof = true;      // tests: the host closing the channel ends the loop
  size_t backlog_bytes = 8 << 20;  // events kept until the host acknowledges them
  std::string boot_id;
  // Guest uptime (CLOCK_BOOTTIME, ms) when the agent started: the host derives when the kernel
  // handed over to /init from it and `uptime_ms` in the hello answer.
  int64_t started_uptime_ms = 0;
  std::string agent_version = "0.1.0";
  // Parent cgroup of containers (limits, OOM events); empty: none (host-side tests).
  std::string cgroup_root;
  // Where the agent reports what it does (the console in the VM); null: silent.
  std::function<void(const std::string&)> log;
};

class AgentServer {
 public:
  // `fd` is the channel, read and written; owned by the caller. With `listen_fd` >= 0 (tests)
  // hosts connect by accept(), one at a time, the way a virtio port gets a new host.
  AgentServer(int fd, ServerOptions opts, int listen_fd = -1);
  ~AgentServer();
  // Runs until shutdown (returns 0) or, with exit_on_eof, until the host goes away (1).
  int Run();

 private:
  struct Proc {
    std::string id;
    pid_t pid = -1;
    int out = -1, err = -1, in = -1;  // pipe ends on our side; -1 once closed
    int tty = -1;                     // pty master kept for resize (tty execs)
    bool reaped = false;
    int exit_code = 0;   // 128 + signal when killed by one
    int signal = 0;      // the signal that killed it, 0 if it exited
    // Output read but not yet sent: small writes are gathered for up to kCoalesce so a fast
    // writer costs a few big events instead of thousands of small ones.
    std::string pending[2];  // stdout, stderr
    std::chrono::steady_clock::time_point pending_since[2];
  };
  void HandlePayload(const std::string& payload);
  Result<nlohmann::json> Dispatch(const Message& m);
  struct Stdio;
  struct Container {
    pid_t init = -1;
    int start_fd = -1;       // released by start_container
    std::string cgroup_dir;  // "" without a cgroup
    int events_fd = -1;      // <cgroup>/memory.events, polled for OOM kills
    uint64_t oom_kills = 0;
    bool disks = false;      // root filesystem on disks mounted by the agent
    ContainerSecurity security;  // its execs get the same privileges
  };
  // Docker's default seccomp program, compiled on first use and kept.
  Result<const std::vector<sock_filter>*> SeccompProgram();
  // `ptmx`: allocate a tty from that devpts (a container's); empty: the agent's own.
  Result<Stdio> MakeStdio(bool tty, bool want_stdin, const std::string& ptmx);
  Result<pid_t> SpawnPlain(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                           const std::string& cwd, const StdioFds& fds, bool tty);
  Result<pid_t> Launch(const std::string& id, bool tty, bool want_stdin,
                       const std::function<Result<pid_t>(const StdioFds&)>& spawn,
                       const std::string& ptmx = "");
  Result<nlohmann::json> Exec(const nlohmann::json& body);
  // `wait`: answered at once for an exec that has exited, else when it exits (the response is
  // held, not the loop). Waiters are forgotten when the host disconnects.
  void Wait(const Message& m);
  Result<nlohmann::json> BlobPut(const nlohmann::json& body);
  Result<nlohmann::json> BlobGet(const nlohmann::json& body);
  Result<nlohmann::json> CopyOut(const nlohmann::json& body);
  Result<nlohmann::json> CopyIn(const nlohmann::json& body);
  Result<int> ContainerRoot(const std::string& id);
  void CheckOom(const std::string& id, Container& c);
  void RemoveContainer(const std::string& id);
  void Log(const std::string& msg) const {
    if (opts_.log) opts_.log(msg);
  }
  Result<nlohmann::json> CreateContainer(const nlohmann::json& body);
  Result<nlohmann::json> StartContainer(const nlohmann::json& body);
  Result<nlohmann::json> Signal(const nlohmann::json& body);
  Result<nlohmann::json> WriteStdin(const nlohmann::json& body, bool close_after);
  Result<nlohmann::json> ResizeTty(const nlohmann::json& body);
  // The VM's network (agent/guest/net_config.h).
  Result<nlohmann::json> ConfigureNetwork(const nlohmann::json& body);
  nlohmann::json Processes() const;
  void Send(const Message& m);
  // Events get a sequence number and stay in a bounded backlog until acknowledged (`ack`, or
  // `hello {ack}` after a reconnect), so a host that reconnects loses nothing that fits.
  void Emit(Message ev);
  void EmitOutput(const std::string& id, int stream, const std::string& data);
  void Queue(std::string payload);  // numbered by seq_, kept in the backlog, sent if live
  void Ack(uint64_t seq);
  void Replay();
  void Disconnected();
  void PumpOutput(Proc& p, int& fd, int stream);
  void FlushOutput(Proc& p, int stream);
  // Flushes output gathered longer than the coalescing window; returns the poll timeout (ms)
  // until the next such flush is due, or -1 if nothing is pending.
  int FlushDueOutput();
  void ReapChildren();
  void MaybeFinish(Proc& p);

  int fd_;
  ServerOptions opts_;
  int sigfd_ = -1;
  FrameDecoder decoder_;
  std::map<std::string, Proc> procs_;
  std::map<std::string, Container> containers_;
  bool shutdown_ = false;
  int listen_fd_ = -1;
  bool connected_ = true;     // a host is on the channel
  bool seen_host_ = false;    // some host has talked to us
  bool replayed_ = true;      // live events may go out (no replay outstanding)
  bool replay_pending_ = false;
  uint64_t seq_ = 0;
  std::deque<std::pair<uint64_t, std::string>> backlog_;
  struct ExitInfo {
    int exit_code = 0, signal = 0;
  };
  std::map<std::string, ExitInfo> exited_;  // recent exits, for `wait` after the fact
  std::deque<std::string> exited_order_;    // oldest first; bounded
  std::map<std::string, std::vector<Message>> waiters_;
  // Blobs: archives in transit for copy_in/copy_out, moved in chunks that fit a frame.
  std::map<std::string, std::string> blobs_;
  size_t blob_bytes_ = 0;
  size_t backlog_bytes_ = 0;
  std::vector<sock_filter> seccomp_prog_;
};

}  // namespace zunvm::agent
