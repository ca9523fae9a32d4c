// AgentServer, part 2: processes, their stdio, output and exits (server.h).
#include "agent/guest/server.h"

#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "agent/guest/procfs.h"

namespace zunvm::agent {

namespace {

constexpr size_t kMaxExited = 1024;                       // exits remembered for `wait`
constexpr int kOutputPipeBytes = 256 << 10;
constexpr size_t kOutputChunkBytes = 256 << 10;           // one output event at most
constexpr auto kCoalesce = std::chrono::milliseconds(2);

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

// The stdio of a new process: pipes, or one pty for tty processes (as `docker exec -t`).
struct AgentServer::Stdio {
  StdioFds child;                 // ends for the child
  int out = -1, err = -1, in = -1, tty = -1;  // our ends
  void CloseChild() {
    std::set<int> fds = {child.in, child.out, child.err};
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
    child = StdioFds{};
  }
  void CloseOurs() {
    for (int* fd : {&out, &err, &in, &tty}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
  }
};

Result<AgentServer::Stdio> AgentServer::MakeStdio(bool tty, bool want_stdin, const std::string& ptmx) {
  Stdio s;
  if (tty) {
    int master = -1, slave = -1;
    if (!ptmx.empty()) {
      // From the container's own devpts, so the process finds its tty under its /dev/pts.
      master = ::open(ptmx.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
      int unlock = 0;
      if (master >= 0 && ::ioctl(master, TIOCSPTLCK, &unlock) == 0) {
        slave = ::ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
      }
      if (slave < 0) {
        int e = errno;
        if (master >= 0) ::close(master);
        return Err(Status::Internal(std::string("container pty: ") + std::strerror(e)));
      }
    } else if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) {
      return Err(Status::Internal(std::string("openpty: ") + std::strerror(errno)));
    }
    ::fcntl(master, F_SETFD, FD_CLOEXEC);
    ::fcntl(slave, F_SETFD, FD_CLOEXEC);
    s.child = StdioFds{slave, slave, slave};
    s.out = master;
    s.in = want_stdin ? ::fcntl(master, F_DUPFD_CLOEXEC, 0) : -1;
    s.tty = ::fcntl(master, F_DUPFD_CLOEXEC, 0);
    return s;
  }
  int out[2], err[2], in[2] = {-1, -1};
  if (::pipe2(out, O_CLOEXEC) != 0) return Err(Status::Internal("pipe"));
  if (::pipe2(err, O_CLOEXEC) != 0 || (want_stdin && ::pipe2(in, O_CLOEXEC) != 0)) {
    for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
    return Err(Status::Internal("pipe"));
  }
  // Bigger pipes let a fast writer run ahead while output is gathered into one event.
  ::fcntl(out[0], F_SETPIPE_SZ, kOutputPipeBytes);
  ::fcntl(err[0], F_SETPIPE_SZ, kOutputPipeBytes);
  s.child = StdioFds{in[0], out[1], err[1]};
  s.out = out[0];
  s.err = err[0];
  s.in = in[1];
  return s;
}

Result<pid_t> AgentServer::SpawnPlain(const std::vector<std::string>& argv,
                                      const std::vector<std::string>& env, const std::string& cwd,
                                      const StdioFds& fds, bool tty) {
  std::vector<std::string> args = argv, envs = env;
  std::vector<char*> cargv, cenv;
  for (auto& x : args) cargv.push_back(x.data());
  cargv.push_back(nullptr);
  for (auto& x : envs) cenv.push_back(x.data());
  cenv.push_back(nullptr);
  int errpipe[2];
  if (::pipe2(errpipe, O_CLOEXEC) != 0) return Err(Status::Internal("pipe"));
  pid_t pid = ::fork();
  if (pid < 0) return Err(Status::Unavailable(std::string("fork: ") + std::strerror(errno)));
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::setsid();
    if (tty) ::ioctl(fds.out, TIOCSCTTY, 0);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(fds.in >= 0 ? fds.in : devnull, 0);
    ::dup2(fds.out, 1);
    ::dup2(fds.err >= 0 ? fds.err : fds.out, 2);
    int e = 0;
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
      e = errno;
    } else {
      if (envs.empty()) ::execvp(cargv[0], cargv.data());
      else ::execvpe(cargv[0], cargv.data(), cenv.data());
      e = errno;
    }
    (void)!::write(errpipe[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(errpipe[1]);
  int child_errno = 0;
  ssize_t got = ::read(errpipe[0], &child_errno, sizeof child_errno);
  ::close(errpipe[0]);
  if (got == sizeof child_errno) {
    ::waitpid(pid, nullptr, 0);
    return Err(Status::NotFound("cannot run " + argv[0] + ": " + std::strerror(child_errno)));
  }
  return pid;
}

Result<pid_t> AgentServer::Launch(const std::string& id, bool tty, bool want_stdin,
                                  const std::function<Result<pid_t>(const StdioFds&)>& spawn,
                                  const std::string& ptmx) {
  if (id.empty() || id.size() > 64) return Err(Status::Invalid("exec_id must be 1..64 characters"));
  if (procs_.count(id)) return Err(Status::Conflict("exec " + id + " exists"));
  auto io = MakeStdio(tty, want_stdin, ptmx);
  if (!io) return Err(io.error());
  auto pid = spawn(io->child);
  io->CloseChild();
  if (!pid) {
    io->CloseOurs();
    return Err(pid.error());
  }
  Proc p;
  p.id = id;
  p.pid = *pid;
  p.out = io->out;
  p.err = io->err;
  p.in = io->in;
  p.tty = io->tty;
  procs_[id] = std::move(p);
  return *pid;
}

Result<op::Exec::Response> AgentServer::Exec(const op::Exec::Request& r) {
  pid_t init = 0;
  const ContainerSecurity* sec = nullptr;
  const std::vector<sock_filter>* prog = nullptr;
  if (!r.container.empty()) {
    auto c = FindContainer(r.container);
    if (!c) return Err(c.error());
    init = (*c)->init;
    sec = &(*c)->security;
    if (sec->seccomp) {
      auto p = SeccompProgram();
      if (!p) return Err(p.error());
      prog = *p;
    }
  }
  auto pid = Launch(r.exec_id, r.tty, r.stdin, [&](const StdioFds& fds) {
    return r.container.empty() ? SpawnPlain(r.argv, r.env, r.cwd, fds, r.tty)
                               : ExecInContainer(init, r.argv, r.env, r.cwd, fds, r.tty, *sec, prog);
  }, r.container.empty() ? "" : "/proc/" + std::to_string(init) + "/root/dev/pts/ptmx");
  if (!pid) return Err(pid.error());
  if (!r.container.empty() && !containers_[r.container].cgroup_dir.empty()) {
    // Like Kata: an exec counts against its container's limits.
    (void)WriteCgroup(containers_[r.container].cgroup_dir + "/cgroup.procs", std::to_string(*pid));
  }
  Log("exec " + r.exec_id + " started: pid " + std::to_string(*pid) + " " + r.argv[0]);
  return op::Exec::Response{*pid};
}

Result<op::Empty> AgentServer::Signal(const op::Signal::Request& r) {
  auto it = procs_.find(r.exec_id);
  if (it == procs_.end()) return Err(Status::NotFound("no such exec " + r.exec_id));
  if (it->second.reaped) return Err(Status::Conflict("exec " + it->first + " has exited"));
  ::kill(it->second.pid, static_cast<int>(r.signal));
  return op::Empty{};
}

Result<op::Empty> AgentServer::WriteStdin(const op::WriteStdin::Request& r) {
  auto it = procs_.find(r.exec_id);
  if (it == procs_.end()) return Err(Status::NotFound("no such exec " + r.exec_id));
  Proc& p = it->second;
  if (p.in < 0) return Err(Status::Conflict("stdin of " + p.id + " is closed"));
  if (!WriteAll(p.in, r.data)) return Err(Status::Conflict("stdin of " + p.id + " is broken"));
  return op::Empty{};
}

Result<op::Empty> AgentServer::CloseStdin(const op::Wait::Request& r) {
  auto it = procs_.find(r.exec_id);
  if (it == procs_.end()) return Err(Status::NotFound("no such exec " + r.exec_id));
  Proc& p = it->second;
  if (p.in < 0) return Err(Status::Conflict("stdin of " + p.id + " is closed"));
  ::close(p.in);
  p.in = -1;
  return op::Empty{};
}

Result<op::Empty> AgentServer::ResizeTty(const op::ResizeTty::Request& r) {
  auto it = procs_.find(r.exec_id);
  if (it == procs_.end()) return Err(Status::NotFound("no such exec " + r.exec_id));
  if (it->second.tty < 0) return Err(Status::Invalid("exec " + it->first + " has no tty"));
  winsize ws{};
  ws.ws_col = static_cast<unsigned short>(r.width);
  ws.ws_row = static_cast<unsigned short>(r.height);
  if (::ioctl(it->second.tty, TIOCSWINSZ, &ws) != 0) {
    return Err(Status::Internal(std::string("resize: ") + std::strerror(errno)));
  }
  return op::Empty{};
}

Result<op::Processes::Response> AgentServer::Processes(const op::Empty&) {
  ProcessTable t = ListDescendants(::getpid());
  op::Processes::Response out{t.titles, t.rows, {}};
  for (const auto& [id, p] : procs_) out.execs[id] = p.pid;
  return out;
}

// Reads straight into the stream's chunk buffer (kOutputChunkBytes), which becomes the next
// output event's attachment as it is.
void AgentServer::PumpOutput(Proc& p, int& fd, int stream) {
  Bytes& b = p.pending[stream];
  if (!b.data) {
    b.data.reset(new char[kOutputChunkBytes]);
    b.capacity = kOutputChunkBytes;
  }
  ssize_t n = ::read(fd, b.data.get() + b.size, b.capacity - b.size);
  if (n > 0) {
    if (b.empty()) p.pending_since[stream] = std::chrono::steady_clock::now();
    b.size += static_cast<size_t>(n);
    if (b.size >= b.capacity) FlushOutput(p, stream);
    return;
  }
  if (n < 0 && errno == EINTR) return;
  ::close(fd);
  fd = -1;
  FlushOutput(p, stream);  // everything before the exit event
  MaybeFinish(p);
}

void AgentServer::FlushOutput(Proc& p, int stream) {
  if (p.pending[stream].empty()) return;
  EmitOutput(p, stream, std::move(p.pending[stream]));
  p.pending[stream] = Bytes{};
}

int AgentServer::FlushDueOutput() {
  auto now = std::chrono::steady_clock::now();
  int next = -1;
  for (auto& [id, p] : procs_) {
    for (int s = 0; s < 2; ++s) {
      if (p.pending[s].empty()) continue;
      auto due = p.pending_since[s] + kCoalesce;
      if (due <= now) {
        FlushOutput(p, s);
        continue;
      }
      int ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(due - now).count());
      next = next < 0 ? ms : std::min(next, ms);
    }
  }
  return next;
}

void AgentServer::ReapChildren() {
  signalfd_siginfo si;
  while (::read(sigfd_, &si, sizeof si) == sizeof si) {
  }
  for (;;) {
    int st = 0;
    pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid <= 0) break;
    for (auto& [id, p] : procs_) {
      if (p.pid != pid) continue;
      p.reaped = true;
      p.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      p.signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
      MaybeFinish(p);  // may erase p: stop iterating
      break;
    }
    // Other children (orphans reparented to PID 1) are simply reaped.
  }
}

// The exit event follows all of the process's output: sent once it is reaped and both pipes
// reached EOF.
void AgentServer::MaybeFinish(Proc& p) {
  if (!p.reaped || p.out >= 0 || p.err >= 0) return;
  if (p.in >= 0) {
    ::close(p.in);
    p.in = -1;
  }
  if (p.tty >= 0) {
    ::close(p.tty);
    p.tty = -1;
  }
  std::string id = p.id;
  ExitInfo info{p.exit_code, p.signal};
  procs_.erase(id);
  if (auto c = containers_.find(id); c != containers_.end()) {
    CheckOom(id, c->second);  // an OOM kill is reported before the exit it caused
    RemoveContainer(id);      // its init is gone, and with it every process of the container
  }
  Log("exec " + id + " exited: code " + std::to_string(info.exit_code));
  op::ExitStatus status{id, info.exit_code, info.signal};
  Emit(op::ExitEvent{status, 0});
  if (!exited_.count(id)) exited_order_.push_back(id);
  exited_[id] = info;
  while (exited_order_.size() > kMaxExited) {
    exited_.erase(exited_order_.front());
    exited_order_.pop_front();
  }
  if (auto w = waiters_.find(id); w != waiters_.end()) {
    auto reqs = std::move(w->second);
    waiters_.erase(w);
    for (const auto& req : reqs) {
      Message resp = Message::Response(req);
      Put(resp, status);
      Send(resp);
    }
  }
}

void AgentServer::Wait(Message& m) {
  auto r = Get<op::Wait::Request>(m);
  if (!r) {
    Send(Message::Failure(m, r.error()));
    return;
  }
  const std::string& id = r->exec_id;
  if (auto e = exited_.find(id); e != exited_.end() && !procs_.count(id)) {
    Message resp = Message::Response(m);
    Put(resp, op::ExitStatus{id, e->second.exit_code, e->second.signal});
    Send(resp);
    return;
  }
  if (!procs_.count(id)) {
    Send(Message::Failure(m, Status::NotFound("no such exec " + id)));
    return;
  }
  auto& w = waiters_[id];
  if (w.size() >= 16) {
    Send(Message::Failure(m, Status::Conflict("too many waiters on " + id)));
    return;
  }
  w.push_back(m);
}

}  // namespace zunvm::agent
