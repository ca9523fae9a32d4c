#include "agent/guest/server.h"

#include "agent/guest/net_config.h"
#include "agent/guest/seccomp_profile.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <cstring>
#include <set>
#include <sstream>

#include "agent/guest/container.h"
#include "agent/guest/seccomp_profile.h"
#include "agent/guest/disks.h"
#include "agent/guest/files.h"
#include "agent/guest/procfs.h"
#include "common/base64.h"

namespace zunvm::agent {

using nlohmann::json;

int64_t UptimeMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

namespace {

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

// One frame: the length prefix and the payload in one writev, without copying the payload.
bool WritePayload(int fd, const std::string& payload) {
  if (payload.empty() || payload.size() > kMaxFrameBytes) return false;
  unsigned char hdr[4] = {static_cast<unsigned char>(payload.size() >> 24), static_cast<unsigned char>(payload.size() >> 16),
                          static_cast<unsigned char>(payload.size() >> 8), static_cast<unsigned char>(payload.size())};
  size_t total = 4 + payload.size(), done = 0;
  while (done < total) {
    iovec iov[2];
    int n = 0;
    if (done < 4) iov[n++] = {hdr + done, 4 - done};
    size_t off = done < 4 ? 0 : done - 4;
    iov[n++] = {const_cast<char*>(payload.data()) + off, payload.size() - off};
    ssize_t w = ::writev(fd, iov, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    done += static_cast<size_t>(w);
  }
  return true;
}

Result<std::vector<std::string>> Strings(const json& body, const char* key, bool required) {
  auto it = body.find(key);
  std::vector<std::string> out;
  if (it == body.end() || it->is_null()) {
    if (required) return Err(Status::Invalid(std::string(key) + " is required"));
    return out;
  }
  if (!it->is_array()) return Err(Status::Invalid(std::string(key) + " must be a list of strings"));
  for (const auto& v : *it) {
    if (!v.is_string()) return Err(Status::Invalid(std::string(key) + " must be a list of strings"));
    std::string s = v.get<std::string>();
    if (s.find('\0') != std::string::npos) return Err(Status::Invalid("NUL in " + std::string(key)));
    out.push_back(std::move(s));
  }
  return out;
}

std::string Str(const json& body, const char* key) {
  auto it = body.find(key);
  return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
}

constexpr size_t kMaxExited = 1024;
constexpr int kOutputPipeBytes = 256 << 10;
constexpr size_t kOutputChunkBytes = 256 << 10;  // one event at most; its base64 fits a frame
constexpr auto kCoalesce = std::chrono::milliseconds(2);                 // exits remembered for `wait`
constexpr size_t kMaxBlobBytes = size_t{128} << 20;  // all blobs together
constexpr size_t kMaxBlobChunk = size_t{512} << 10;  // per blob_get / blob_put (fits a frame)

bool SafeId(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

uint64_t ReadOomKills(int fd) {
  char buf[512];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  std::istringstream in(std::string(buf, static_cast<size_t>(n)));
  std::string key;
  uint64_t v = 0;
  while (in >> key >> v) {
    if (key == "oom_kill") return v;
  }
  return 0;
}

}  // namespace

AgentServer::AgentServer(int fd, ServerOptions opts, int listen_fd)
    : fd_(fd), opts_(std::move(opts)), listen_fd_(listen_fd) {
  connected_ = fd_ >= 0;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  sigfd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

AgentServer::~AgentServer() {
  for (auto& [id, p] : procs_) {
    for (int fd : {p.out, p.err, p.in, p.tty}) {
      if (fd >= 0) ::close(fd);
    }
    if (!p.reaped && p.pid > 0) ::kill(p.pid, SIGKILL);
  }
  for (auto& [id, c] : containers_) {
    if (c.events_fd >= 0) ::close(c.events_fd);
    if (c.start_fd >= 0) ::close(c.start_fd);
  }
  if (sigfd_ >= 0) ::close(sigfd_);
}

void AgentServer::Send(const Message& m) {
  if (fd_ < 0 || !connected_) return;  // a response for a host that left is dropped
  std::string payload = SerializeMessage(m);
  if (payload.size() > kMaxFrameBytes) return;  // cannot happen for our own bounded messages
  if (!WritePayload(fd_, payload)) Disconnected();
}

void AgentServer::Emit(Message ev) {
  ev.body["seq"] = ++seq_;
  Queue(SerializeMessage(ev));
}

// Output is most of the traffic: its JSON is written directly (no tree, no scan of the base64
// text), which matters when the guest's CPU is emulated.
void AgentServer::EmitOutput(const std::string& id, int stream, const std::string& data) {
  ++seq_;
  std::string p;
  p.reserve(data.size() / 3 * 4 + 192);
  p += R"({"v":1,"kind":"event","id":0,"op":"output","body":{"exec_id":)";
  p += json(id).dump(-1, ' ', false, json::error_handler_t::replace);
  p += stream == 0 ? R"(,"stream":"stdout","data":")" : R"(,"stream":"stderr","data":")";
  p += Base64Encode(data);
  p += R"(","boot":)" + json(opts_.boot_id).dump();
  p += R"(,"seq":)" + std::to_string(seq_) + "}}";
  Queue(std::move(p));
}

void AgentServer::Queue(std::string payload) {
  backlog_bytes_ += payload.size();
  backlog_.emplace_back(seq_, std::move(payload));
  while (backlog_bytes_ > opts_.backlog_bytes && backlog_.size() > 1) {
    backlog_bytes_ -= backlog_.front().second.size();
    backlog_.pop_front();  // past the buffer: the oldest output is lost
  }
  if (fd_ >= 0 && connected_ && replayed_ && !WritePayload(fd_, backlog_.back().second)) Disconnected();
}

void AgentServer::Ack(uint64_t seq) {
  while (!backlog_.empty() && backlog_.front().first <= seq) {
    backlog_bytes_ -= backlog_.front().second.size();
    backlog_.pop_front();
  }
}

void AgentServer::Replay() {
  for (const auto& [seq, payload] : backlog_) {
    if (!WritePayload(fd_, payload)) {
      Disconnected();
      return;
    }
  }
  replayed_ = true;
}

void AgentServer::Disconnected() {
  if (connected_) Log("host disconnected");
  waiters_.clear();  // their responses would go nowhere; the next host asks again
  connected_ = false;
  replayed_ = false;
  decoder_ = FrameDecoder();
  if (listen_fd_ >= 0 && fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

int AgentServer::Run() {
  char buf[65536];
  while (!shutdown_) {
    if (!connected_ && opts_.exit_on_eof && seen_host_) return 1;
    std::vector<pollfd> fds;
    // While no host is there a virtio port reports HUP continuously: then poll it on a timer.
    bool watch_channel = fd_ >= 0 && (connected_ || listen_fd_ >= 0 || !seen_host_);
    fds.push_back({watch_channel ? fd_ : -1, POLLIN, 0});
    fds.push_back({sigfd_, POLLIN, 0});
    fds.push_back({fd_ < 0 ? listen_fd_ : -1, POLLIN, 0});
    std::vector<std::pair<std::string, int>> owners;  // which proc/stream each extra fd is
    for (auto& [id, p] : procs_) {
      if (p.out >= 0) { fds.push_back({p.out, POLLIN, 0}); owners.emplace_back(id, 1); }
      if (p.err >= 0) { fds.push_back({p.err, POLLIN, 0}); owners.emplace_back(id, 2); }
    }
    for (auto& [id, c] : containers_) {  // memory.events signals a change with POLLPRI
      if (c.events_fd >= 0) { fds.push_back({c.events_fd, POLLPRI, 0}); owners.emplace_back(id, 3); }
    }
    int timeout = watch_channel || fd_ < 0 ? 1000 : 20;
    int due = FlushDueOutput();
    if (due >= 0) timeout = std::min(timeout, due);
    int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR) return 1;
    if (fds[1].revents & POLLIN) ReapChildren();
    if (fds[2].revents & POLLIN) {
      int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        fd_ = c;
        connected_ = true;
        seen_host_ = true;
        Log("host connected");
      }
    }
    for (size_t i = 3; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLPRI | POLLHUP | POLLERR))) continue;
      if (owners[i - 3].second == 3) {
        if (auto c = containers_.find(owners[i - 3].first); c != containers_.end()) CheckOom(c->first, c->second);
        continue;
      }
      auto it = procs_.find(owners[i - 3].first);
      if (it == procs_.end()) continue;
      Proc& p = it->second;
      if (owners[i - 3].second == 1) PumpOutput(p, p.out, 0);
      else PumpOutput(p, p.err, 1);
    }
    bool readable = fd_ >= 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR));
    if (fd_ >= 0 && !watch_channel) readable = true;  // a virtio port without host: probe it
    if (!readable) continue;
    ssize_t r = ::read(fd_, buf, sizeof buf);
    if (r > 0) {
      if (!connected_) {  // a (new) host: start from a frame boundary
        Log("host connected");
        connected_ = true;
        decoder_ = FrameDecoder();
      }
      seen_host_ = true;
      decoder_.Feed(std::string_view(buf, static_cast<size_t>(r)));
      for (;;) {
        auto f = decoder_.Next();
        if (!f) {  // garbage or oversized: this connection cannot be trusted any more
          Disconnected();
          break;
        }
        if (!*f) break;
        HandlePayload(**f);
        if (!connected_) break;
      }
    } else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
      if (connected_) Disconnected();
      seen_host_ = true;
    }
  }
  return 0;
}

void AgentServer::HandlePayload(const std::string& payload) {
  auto m = ParseMessage(payload);
  if (!m) return;  // no id to answer: dropped (logged on the console in the guest)
  if (m->kind != Kind::kRequest) return;
  if (m->op == "wait") {
    Wait(*m);
    return;
  }
  auto result = Dispatch(*m);
  if (result) {
    Send(Message::Response(*m, std::move(*result)));
  } else {
    Log(m->op + " failed: " + result.error().message());
    Send(Message::Failure(*m, result.error()));
  }
  if (replay_pending_ && connected_) {
    replay_pending_ = false;
    Replay();
  }
}

Result<json> AgentServer::Dispatch(const Message& m) {
  const json& b = m.body;
  if (m.op == "hello") {
    auto v = b.find("version");
    if (v == b.end() || !v->is_number_integer() || v->get<int64_t>() != kProtocolVersion) {
      return Err(Status::Invalid("unsupported protocol version"));
    }
    // The host says which events it has; the rest is replayed after this response.
    if (auto ack = b.find("ack"); ack != b.end() && ack->is_number_unsigned()) {
      Ack(ack->get<uint64_t>());
    }
    replay_pending_ = true;
    struct utsname u{};
    ::uname(&u);
    return json{{"version", kProtocolVersion},
                {"agent_version", opts_.agent_version},
                {"boot_id", opts_.boot_id},
                {"kernel", u.release},
                {"started_uptime_ms", opts_.started_uptime_ms},
                {"uptime_ms", UptimeMs()},
                {"capabilities", {"exec", "wait", "signal", "stdin", "tty", "processes", "stats",
                                  "containers", "disks", "copy", "update", "freeze", "oom", "shutdown"}}};
  }
  if (m.op == "ack") {
    auto seq = b.find("seq");
    if (seq == b.end() || !seq->is_number_unsigned()) return Err(Status::Invalid("seq is required"));
    Ack(seq->get<uint64_t>());
    return json::object();
  }
  if (m.op == "exec") return Exec(b);
  if (m.op == "create_container") return CreateContainer(b);
  if (m.op == "start_container") return StartContainer(b);
  if (m.op == "signal") return Signal(b);
  if (m.op == "write_stdin") return WriteStdin(b, false);
  if (m.op == "close_stdin") return WriteStdin(b, true);
  if (m.op == "processes") return Processes();
  if (m.op == "resize_tty") return ResizeTty(b);
  if (m.op == "blob_put") return BlobPut(b);
  if (m.op == "blob_get") return BlobGet(b);
  if (m.op == "blob_drop") {
    if (auto it = blobs_.find(Str(b, "blob")); it != blobs_.end()) {
      blob_bytes_ -= it->second.size();
      blobs_.erase(it);
    }
    return json::object();
  }
  if (m.op == "copy_out") return CopyOut(b);
  if (m.op == "copy_in") return CopyIn(b);
  if (m.op == "stats") {
    GuestStats g = ReadGuestStats();
    return json{{"cpu_usage_usec", g.cpu_usage_usec},   {"mem_total_bytes", g.mem_total_bytes},
                {"mem_used_bytes", g.mem_used_bytes},   {"block_read_bytes", g.block_read_bytes},
                {"block_write_bytes", g.block_write_bytes}, {"net_rx_bytes", g.net_rx_bytes},
                {"net_tx_bytes", g.net_tx_bytes}};
  }
  if (m.op == "update") {
    std::string id = Str(b, "id");
    auto c = containers_.find(id);
    if (c == containers_.end()) return Err(Status::NotFound("no such container " + id));
    if (c->second.cgroup_dir.empty()) return Err(Status::Conflict("container " + id + " has no cgroup"));
    std::optional<int64_t> mem;
    std::optional<double> cpus;
    if (auto v = b.find("memory_bytes"); v != b.end() && v->is_number_integer()) mem = v->get<int64_t>();
    if (auto v = b.find("cpus"); v != b.end() && v->is_number()) cpus = v->get<double>();
    if ((mem && *mem < (4 << 20)) || (cpus && *cpus <= 0)) return Err(Status::Invalid("bad limits"));
    ZUNVM_RETURN_IF_ERROR(UpdateLimits(c->second.cgroup_dir, mem, cpus));
    return json::object();
  }
  if (m.op == "freeze") {  // {id, frozen}: pause/unpause a container, the guest runs on
    std::string id = Str(b, "id");
    auto c = containers_.find(id);
    if (c == containers_.end()) return Err(Status::NotFound("no such container " + id));
    if (c->second.cgroup_dir.empty()) return Err(Status::Conflict("container " + id + " has no cgroup"));
    auto frozen = b.find("frozen");
    if (frozen == b.end() || !frozen->is_boolean()) return Err(Status::Invalid("frozen must be a boolean"));
    ZUNVM_RETURN_IF_ERROR(FreezeCgroup(c->second.cgroup_dir, frozen->get<bool>(), std::chrono::seconds(5)));
    return json::object();
  }
  if (m.op == "configure_network") return ConfigureNetwork(b);
  if (m.op == "guest_details") {
    struct utsname u{};
    ::uname(&u);
    return json{{"kernel", u.release}, {"agent_version", opts_.agent_version}};
  }
  if (m.op == "shutdown") {
    Log("shutdown requested");
    shutdown_ = true;
    return json::object();
  }
  return Err(Status::NotImplemented("unknown op " + m.op));
}

// {nics: [{mac, cidr, mtu?}], gateway?} -> the interfaces configured. The body comes from the
// host, but is checked like any input.
Result<json> AgentServer::ConfigureNetwork(const json& b) {
  NetworkSettings s;
  auto nics = b.find("nics");
  if (nics == b.end() || !nics->is_array() || nics->size() > 16) {
    return Err(Status::Invalid("configure_network needs nics: a list of at most 16"));
  }
  for (const auto& n : *nics) {
    if (!n.is_object()) return Err(Status::Invalid("each nic must be an object"));
    NicSettings ns{Str(n, "mac"), Str(n, "cidr"), 0};
    if (auto mtu = n.find("mtu"); mtu != n.end()) {
      if (!mtu->is_number_integer() || *mtu < 68 || *mtu > 65535) return Err(Status::Invalid("bad mtu"));
      ns.mtu = mtu->get<int>();
    }
    s.nics.push_back(ns);
  }
  s.gateway = Str(b, "gateway");
  auto names = ApplyNetwork(s);
  if (!names) return Err(names.error());
  return json{{"interfaces", *names}};
}

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

// Starts a process (plain, in a container, or a container's init) with its stdio wired to
// events, and registers it under `id`.
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
  procs_[id] = p;
  return *pid;
}

Result<json> AgentServer::Exec(const json& b) {
  auto argv = Strings(b, "argv", true);
  if (!argv) return Err(argv.error());
  if (argv->empty()) return Err(Status::Invalid("argv is empty"));
  auto env = Strings(b, "env", false);
  if (!env) return Err(env.error());
  std::string cwd = Str(b, "cwd");
  bool tty = b.value("tty", false);
  std::string container = Str(b, "container");
  pid_t init = 0;
  const ContainerSecurity* sec = nullptr;
  const std::vector<sock_filter>* prog = nullptr;
  if (!container.empty()) {
    auto c = containers_.find(container);
    if (c == containers_.end()) return Err(Status::NotFound("no such container " + container));
    init = c->second.init;
    sec = &c->second.security;
    if (sec->seccomp) {
      auto p = SeccompProgram();
      if (!p) return Err(p.error());
      prog = *p;
    }
  }
  auto pid = Launch(Str(b, "exec_id"), tty, b.value("stdin", false), [&](const StdioFds& fds) {
    return container.empty() ? SpawnPlain(*argv, *env, cwd, fds, tty)
                             : ExecInContainer(init, *argv, *env, cwd, fds, tty, *sec, prog);
  }, container.empty() ? "" : "/proc/" + std::to_string(init) + "/root/dev/pts/ptmx");
  if (!pid) return Err(pid.error());
  if (!container.empty() && !containers_[container].cgroup_dir.empty()) {
    // Like Kata: an exec counts against its container's limits.
    (void)WriteCgroup(containers_[container].cgroup_dir + "/cgroup.procs", std::to_string(*pid));
  }
  Log("exec " + Str(b, "exec_id") + " started: pid " + std::to_string(*pid) + " " + (*argv)[0]);
  return json{{"pid", *pid}};
}

Result<json> AgentServer::CreateContainer(const json& body) {
  std::string id = Str(body, "id");
  if (!SafeId(id)) return Err(Status::Invalid("id must be 1..64 of [A-Za-z0-9._-]"));
  if (containers_.count(id)) return Err(Status::Conflict("container " + id + " exists"));
  json b = body;
  b.erase("cgroup_root");
  bool disks = body.contains("rootfs_disk");
  if (disks) {
    auto root = MountContainerDisks(id, body);
    if (!root) return Err(root.error());
    b["rootfs"] = *root;
  }
  auto spec = ParseContainerSpec(b);
  if (!spec) {
    if (disks) UnmountContainerDisks(id);
    return Err(spec.error());
  }
  spec->cgroup_root = opts_.cgroup_root;
  if (spec->security.seccomp) {
    auto prog = SeccompProgram();
    if (!prog) {
      if (disks) UnmountContainerDisks(id);
      return Err(prog.error());
    }
    spec->seccomp = *prog;
  }
  int start_fd = -1;
  auto pid = Launch(spec->id, b.value("tty", false), b.value("stdin", false),
                    [&](const StdioFds& fds) -> Result<pid_t> {
                      auto r = CreateContainerProcess(*spec, fds);
                      if (!r) return Err(r.error());
                      start_fd = r->second;
                      return r->first;
                    });
  if (!pid) {
    if (disks) UnmountContainerDisks(id);
    return Err(pid.error());
  }
  Container c;
  c.init = *pid;
  c.start_fd = start_fd;
  c.disks = disks;
  c.security = spec->security;
  if (!opts_.cgroup_root.empty()) {
    c.cgroup_dir = opts_.cgroup_root + "/" + id;
    c.events_fd = ::open((c.cgroup_dir + "/memory.events").c_str(), O_RDONLY | O_CLOEXEC);
    if (c.events_fd >= 0) c.oom_kills = ReadOomKills(c.events_fd);
  }
  containers_[id] = c;
  Log("container " + id + " created: init pid " + std::to_string(*pid));
  return json{{"pid", *pid}};
}

Result<const std::vector<sock_filter>*> AgentServer::SeccompProgram() {
  if (seccomp_prog_.empty()) {
    auto prog = BuildDefaultFilter();
    if (!prog) return Err(prog.error());
    seccomp_prog_ = std::move(*prog);
  }
  return &seccomp_prog_;
}

Result<json> AgentServer::StartContainer(const json& b) {
  auto it = containers_.find(Str(b, "id"));
  if (it == containers_.end()) return Err(Status::NotFound("no such container " + Str(b, "id")));
  if (it->second.start_fd < 0) return Err(Status::Conflict("container " + it->first + " was started"));
  bool ok = ::write(it->second.start_fd, "g", 1) == 1;
  ::close(it->second.start_fd);
  it->second.start_fd = -1;
  if (!ok) return Err(Status::Conflict("container " + it->first + " is gone"));
  return json::object();
}

Result<json> AgentServer::Signal(const json& b) {
  auto it = procs_.find(Str(b, "exec_id"));
  if (it == procs_.end()) return Err(Status::NotFound("no such exec " + Str(b, "exec_id")));
  auto sig = b.find("signal");
  if (sig == b.end() || !sig->is_number_integer() || sig->get<int>() < 1 || sig->get<int>() > 64) {
    return Err(Status::Invalid("signal must be 1..64"));
  }
  if (it->second.reaped) return Err(Status::Conflict("exec " + it->first + " has exited"));
  ::kill(it->second.pid, sig->get<int>());
  return json::object();
}

Result<json> AgentServer::WriteStdin(const json& b, bool close_after) {
  auto it = procs_.find(Str(b, "exec_id"));
  if (it == procs_.end()) return Err(Status::NotFound("no such exec " + Str(b, "exec_id")));
  Proc& p = it->second;
  if (p.in < 0) return Err(Status::Conflict("stdin of " + p.id + " is closed"));
  if (!close_after) {
    auto data = Base64Decode(Str(b, "data"));
    if (!data) return Err(Status::Invalid("data must be base64"));
    if (!WriteAll(p.in, *data)) return Err(Status::Conflict("stdin of " + p.id + " is broken"));
  } else {
    ::close(p.in);
    p.in = -1;
  }
  return json::object();
}

Result<json> AgentServer::ResizeTty(const json& b) {
  auto it = procs_.find(Str(b, "exec_id"));
  if (it == procs_.end()) return Err(Status::NotFound("no such exec " + Str(b, "exec_id")));
  if (it->second.tty < 0) return Err(Status::Invalid("exec " + it->first + " has no tty"));
  int w = b.value("width", 0), h = b.value("height", 0);
  if (w < 1 || h < 1 || w > 10000 || h > 10000) return Err(Status::Invalid("bad tty size"));
  winsize ws{};
  ws.ws_col = static_cast<unsigned short>(w);
  ws.ws_row = static_cast<unsigned short>(h);
  if (::ioctl(it->second.tty, TIOCSWINSZ, &ws) != 0) {
    return Err(Status::Internal(std::string("resize: ") + std::strerror(errno)));
  }
  return json::object();
}

json AgentServer::Processes() const {
  ProcessTable t = ListDescendants(::getpid());
  json execs = json::array();
  for (const auto& [id, p] : procs_) execs.push_back({{"exec_id", id}, {"pid", p.pid}});
  return json{{"titles", t.titles}, {"processes", t.rows}, {"execs", execs}};
}

void AgentServer::PumpOutput(Proc& p, int& fd, int stream) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n > 0) {
    if (p.pending[stream].empty()) p.pending_since[stream] = std::chrono::steady_clock::now();
    p.pending[stream].append(buf, static_cast<size_t>(n));
    if (p.pending[stream].size() >= kOutputChunkBytes) FlushOutput(p, stream);
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
  EmitOutput(p.id, stream, p.pending[stream]);
  p.pending[stream].clear();
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
  json ev = {{"exec_id", id}, {"exit_code", info.exit_code}};
  if (info.signal) ev["signal"] = info.signal;
  Emit(Message::Event("exit", ev));
  if (!exited_.count(id)) exited_order_.push_back(id);
  exited_[id] = info;
  while (exited_order_.size() > kMaxExited) {
    exited_.erase(exited_order_.front());
    exited_order_.pop_front();
  }
  if (auto w = waiters_.find(id); w != waiters_.end()) {
    auto reqs = std::move(w->second);
    waiters_.erase(w);
    for (const auto& req : reqs) Send(Message::Response(req, ev));
  }
}

void AgentServer::Wait(const Message& m) {
  std::string id = Str(m.body, "exec_id");
  if (auto e = exited_.find(id); e != exited_.end() && !procs_.count(id)) {
    json r = {{"exec_id", id}, {"exit_code", e->second.exit_code}};
    if (e->second.signal) r["signal"] = e->second.signal;
    Send(Message::Response(m, r));
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

void AgentServer::CheckOom(const std::string& id, Container& c) {
  if (c.events_fd < 0) return;
  uint64_t kills = ReadOomKills(c.events_fd);
  if (kills <= c.oom_kills) return;
  c.oom_kills = kills;
  Log("container " + id + ": out of memory, a process was killed");
  Emit(Message::Event("oom", {{"container", id}, {"oom_kills", kills}}));
}

void AgentServer::RemoveContainer(const std::string& id) {
  auto c = containers_.find(id);
  if (c == containers_.end()) return;
  if (c->second.start_fd >= 0) ::close(c->second.start_fd);
  if (c->second.events_fd >= 0) ::close(c->second.events_fd);
  if (!c->second.cgroup_dir.empty()) ::rmdir(c->second.cgroup_dir.c_str());
  if (c->second.disks) UnmountContainerDisks(id);
  containers_.erase(c);
}

Result<int> AgentServer::ContainerRoot(const std::string& id) {
  auto c = containers_.find(id);
  if (c == containers_.end()) return Err(Status::NotFound("no such container " + id));
  int fd = ::open(("/proc/" + std::to_string(c->second.init) + "/root").c_str(),
                  O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Err(Status::NotFound("the root of container " + id + " is gone"));
  return fd;
}

Result<json> AgentServer::BlobPut(const json& b) {
  std::string id = Str(b, "blob");
  if (!SafeId(id)) return Err(Status::Invalid("blob must be 1..64 of [A-Za-z0-9._-]"));
  auto off = b.find("offset");
  if (off == b.end() || !off->is_number_unsigned()) return Err(Status::Invalid("offset is required"));
  auto data = Base64Decode(Str(b, "data"));
  if (!data) return Err(Status::Invalid("data must be base64"));
  if (data->size() > kMaxBlobChunk) return Err(Status::Invalid("chunk larger than 512 KiB"));
  std::string& blob = blobs_[id];
  uint64_t offset = off->get<uint64_t>();
  if (offset == 0) {
    blob_bytes_ -= blob.size();
    blob.clear();
  } else if (offset != blob.size()) {
    return Err(Status::Invalid("offset " + std::to_string(offset) + " is not the blob's end " +
                               std::to_string(blob.size())));
  }
  if (blob_bytes_ + data->size() > kMaxBlobBytes) {
    return Err(Status(Code::kPayloadTooLarge, "the agent holds at most 128 MiB of transfers"));
  }
  blob += *data;
  blob_bytes_ += data->size();
  return json{{"size", blob.size()}};
}

Result<json> AgentServer::BlobGet(const json& b) {
  auto it = blobs_.find(Str(b, "blob"));
  if (it == blobs_.end()) return Err(Status::NotFound("no such blob " + Str(b, "blob")));
  uint64_t offset = b.value("offset", uint64_t{0});
  uint64_t length = std::min<uint64_t>(b.value("length", uint64_t{kMaxBlobChunk}), kMaxBlobChunk);
  if (offset > it->second.size()) return Err(Status::Invalid("offset past the end"));
  std::string chunk = it->second.substr(offset, length);
  return json{{"data", Base64Encode(chunk)}, {"size", it->second.size()},
              {"eof", offset + chunk.size() >= it->second.size()}};
}

Result<json> AgentServer::CopyOut(const json& b) {
  std::string blob = Str(b, "blob");
  if (!SafeId(blob)) return Err(Status::Invalid("blob must be 1..64 of [A-Za-z0-9._-]"));
  auto root = ContainerRoot(Str(b, "container"));
  if (!root) return Err(root.error());
  auto r = agent::CopyOut(*root, Str(b, "path"));
  ::close(*root);
  if (!r) return Err(r.error());
  if (auto old = blobs_.find(blob); old != blobs_.end()) {
    blob_bytes_ -= old->second.size();
    blobs_.erase(old);
  }
  if (blob_bytes_ + r->tar.size() > kMaxBlobBytes) {
    return Err(Status(Code::kPayloadTooLarge, "the agent holds at most 128 MiB of transfers"));
  }
  size_t size = r->tar.size();
  blob_bytes_ += size;
  blobs_[blob] = std::move(r->tar);
  return json{{"blob", blob}, {"size", size}, {"stat", r->stat}};
}

Result<json> AgentServer::CopyIn(const json& b) {
  auto it = blobs_.find(Str(b, "blob"));
  if (it == blobs_.end()) return Err(Status::NotFound("no such blob " + Str(b, "blob")));
  std::string tar = std::move(it->second);
  blob_bytes_ -= tar.size();
  blobs_.erase(it);
  auto root = ContainerRoot(Str(b, "container"));
  if (!root) return Err(root.error());
  Status st = agent::CopyIn(*root, Str(b, "path"), tar);
  ::close(*root);
  if (!st.ok()) return Err(st);
  return json::object();
}

}  // namespace zunvm::agent
