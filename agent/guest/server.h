// AgentServer: the guest agent's protocol loop. Serves requests from the host over one channel
// (the virtio-serial port, or a socket in tests), runs processes, and streams their output and
// exits back as events. Single-threaded: one poll loop over the channel, the processes' pipes
// and a signalfd for SIGCHLD.
//
// Requests are dispatched through a table of typed handlers (agent/protocol/ops.h), one per
// operation. Events carry a sequence number and stay in a backlog until the host acknowledges
// them (`ack`, or `hello {ack}` after a reconnect): nothing that was sent is lost across a
// reconnect. Output is flow-controlled per process: at most kOutputWindow bytes of a
// process's output are unacknowledged at a time (op::kOutputWindow); past that its pipes are not read, so the
// process blocks on its writes (as it would on a full pipe) instead of output being dropped.
//
// The host is untrusted input too: a bad frame drops the connection (the agent then waits for
// the next host), a bad message gets an error response, nothing crashes the agent.
//
// Files: server.cc (loop, channel, events, dispatch), server_procs.cc (processes and their
// stdio), server_containers.cc (containers, limits, pause), server_files.cc (blobs, copies).
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/guest/container.h"
#include "agent/guest/disks.h"
#include "agent/protocol/frame.h"
#include "agent/protocol/message.h"
#include "agent/protocol/typed.h"

namespace zunvm::agent {

// Guest uptime in ms (CLOCK_BOOTTIME).
int64_t UptimeMs();

// A buffer of raw bytes read straight from a pipe (no zero-filling, no copy when it becomes
// an event's attachment).
struct Bytes {
  std::unique_ptr<char[]> data;
  size_t size = 0, capacity = 0;
  bool empty() const { return size == 0; }
};

struct ServerOptions {
  bool pid1 = false;            // reaps every child; shutdown powers the VM off
  bool exit_on_eof = true;      // tests: the host closing the channel ends the loop
  // Events kept until the host acknowledges them. Past it no more output is read (every
  // process waits); exits and OOM events are always kept.
  size_t backlog_bytes = 8 << 20;
  std::string boot_id;
  // Guest uptime (CLOCK_BOOTTIME, ms) when the agent started: the host derives when the kernel
  // handed over to /init from it and `uptime_ms` in the hello answer.
  int64_t started_uptime_ms = 0;
  std::string agent_version = "0.2.0";
  // Parent cgroup of containers (limits, OOM events); empty: none (host-side tests).
  std::string cgroup_root;
  // Where container disks are found (the guest's /sys/block and /dev unless tests say).
  DiskRoots disks;
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
    Bytes pending[2];  // stdout, stderr
    std::chrono::steady_clock::time_point pending_since[2];
    size_t unacked = 0;      // output bytes sent and not yet acknowledged (the window's use)
  };
  struct Container {
    pid_t init = -1;
    int start_fd = -1;       // released by start_container
    std::string cgroup_dir;  // "" without a cgroup
    int events_fd = -1;      // <cgroup>/memory.events, polled for OOM kills
    uint64_t oom_kills = 0;
    bool disks = false;      // root filesystem on disks mounted by the agent
    ContainerSecurity security;  // its execs get the same privileges
  };
  struct Stdio;
  // One queued event, as written: `head` is the whole frame, or for output the frame up to
  // its attachment, which is `bytes` (moved from the process's buffer, never copied).
  struct Pending {
    uint64_t seq;
    std::string head;
    Bytes bytes;
    std::string exec_id;  // output only: whose window it uses
  };
  using Handler = std::function<Result<Message>(Message&)>;

  // ---- server.cc: the channel, events, dispatch
  void RegisterHandlers();
  // The handler of `Op`: decodes its request, runs `fn`, encodes the response.
  template <typename Op, typename Fn>
  void On(Fn fn) {
    handlers_[Op::kName] = [this, fn](Message& m) -> Result<Message> {
      auto req = Get<typename Op::Request>(m);
      if (!req) return Err(req.error());
      auto resp = (this->*fn)(*req);
      if (!resp) return Err(resp.error());
      Message out = Message::Response(m);
      Put(out, *resp);
      return out;
    };
  }
  void HandlePayload(const std::string& payload);
  Result<op::Hello::Response> Hello(const op::Hello::Request& r);
  Result<op::Empty> AckEvents(const op::Ack::Request& r);
  Result<op::GuestDetails::Response> Details(const op::Empty&);
  Result<op::Stats::Response> Stats(const op::Empty&);
  Result<op::Empty> Shutdown(const op::Empty&);
  Result<op::Empty> Identity(const op::Identity::Request& r);
  Result<op::ConfigureNetwork::Response> ConfigureNetwork(const op::ConfigureNetwork::Request& r);
  void Send(const Message& m);
  // The length prefix and `payload`: a whole frame.
  static std::string FrameOf(const std::string& payload);
  // Events get a sequence number and stay in the backlog until acknowledged.
  template <typename Event>
  void Emit(Event ev) {
    ev.seq = ++seq_;
    Message m = Message::Event(Event::kName, nlohmann::json::object());
    Put(m, ev);
    Queue({seq_, FrameOf(SerializeMessage(m)), {}, ""});
  }
  void EmitOutput(Proc& p, int stream, Bytes data);
  void Queue(Pending ev);  // kept in the backlog, sent if the host is there
  void Ack(uint64_t seq);
  void Replay();
  void Disconnected();
  bool OutputBlocked(const Proc& p) const;
  void Log(const std::string& msg) const {
    if (opts_.log) opts_.log(msg);
  }

  // ---- server_procs.cc: processes
  Result<Stdio> MakeStdio(bool tty, bool want_stdin, const std::string& ptmx);
  Result<pid_t> SpawnPlain(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                           const std::string& cwd, const StdioFds& fds, bool tty);
  // Starts a process (plain, in a container, or a container's init) with its stdio wired to
  // events, and registers it under `id`.
  Result<pid_t> Launch(const std::string& id, bool tty, bool want_stdin,
                       const std::function<Result<pid_t>(const StdioFds&)>& spawn,
                       const std::string& ptmx = "");
  Result<op::Exec::Response> Exec(const op::Exec::Request& r);
  // `wait`: answered at once for an exec that has exited, else when it exits (the response is
  // held, not the loop). Waiters are forgotten when the host disconnects.
  void Wait(Message& m);
  Result<op::Empty> Signal(const op::Signal::Request& r);
  Result<op::Empty> WriteStdin(const op::WriteStdin::Request& r);
  Result<op::Empty> CloseStdin(const op::Wait::Request& r);
  Result<op::Empty> ResizeTty(const op::ResizeTty::Request& r);
  Result<op::Processes::Response> Processes(const op::Empty&);
  void PumpOutput(Proc& p, int& fd, int stream);
  void FlushOutput(Proc& p, int stream);
  // Flushes output gathered longer than the coalescing window; returns the poll timeout (ms)
  // until the next such flush is due, or -1 if nothing is pending.
  int FlushDueOutput();
  void ReapChildren();
  void MaybeFinish(Proc& p);

  // ---- server_containers.cc: containers
  Result<op::CreateContainer::Response> CreateContainer(const op::CreateContainer::Request& r);
  Result<op::Empty> StartContainer(const op::StartContainer::Request& r);
  Result<op::Empty> Update(const op::Update::Request& r);
  Result<op::Empty> Freeze(const op::Freeze::Request& r);
  // Docker's default seccomp program, compiled on first use and kept.
  Status PrepareVolumes(const op::CreateContainer::Request& r, ContainerSpec& spec);
  Result<const std::vector<sock_filter>*> SeccompProgram();
  Result<Container*> FindContainer(const std::string& id);
  void CheckOom(const std::string& id, Container& c);
  void RemoveContainer(const std::string& id);

  // ---- server_files.cc: blobs and copies
  Result<op::BlobPut::Response> BlobPut(const op::BlobPut::Request& r);
  Result<op::BlobGet::Response> BlobGet(const op::BlobGet::Request& r);
  Result<op::Empty> BlobDrop(const op::BlobDrop::Request& r);
  Result<op::CopyOut::Response> CopyOut(const op::CopyOut::Request& r);
  Result<op::Empty> CopyIn(const op::CopyOut::Request& r);
  Result<int> ContainerRoot(const std::string& id);

  int fd_;
  ServerOptions opts_;
  int sigfd_ = -1;
  FrameDecoder decoder_;
  std::map<std::string, Handler> handlers_;
  std::map<std::string, Proc> procs_;
  std::map<std::string, Container> containers_;
  bool shutdown_ = false;
  int listen_fd_ = -1;
  bool connected_ = true;     // a host is on the channel
  bool seen_host_ = false;    // some host has talked to us
  bool replayed_ = true;      // live events may go out (no replay outstanding)
  bool replay_pending_ = false;
  uint64_t seq_ = 0;
  std::deque<Pending> backlog_;
  size_t backlog_bytes_ = 0;
  struct ExitInfo {
    int exit_code = 0, signal = 0;
  };
  std::map<std::string, ExitInfo> exited_;  // recent exits, for `wait` after the fact
  std::deque<std::string> exited_order_;    // oldest first; bounded
  std::map<std::string, std::vector<Message>> waiters_;
  // Blobs: archives in transit for copy_in/copy_out, moved in chunks that fit a frame.
  std::map<std::string, std::string> blobs_;
  size_t blob_bytes_ = 0;
  std::vector<sock_filter> seccomp_prog_;
};

}  // namespace zunvm::agent
