// AgentServer, part 1: the poll loop, the channel, events and their acknowledgement, and the
// dispatch table (server.h).
#include "agent/guest/server.h"

#include <fcntl.h>
#include <linux/random.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "agent/guest/net_config.h"
#include "agent/guest/procfs.h"

namespace zunvm::agent {

using nlohmann::json;

int64_t UptimeMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

namespace {

// A frame as queued: `head` (the length prefix and the payload, or for output the payload up
// to its attachment) and `bytes` (the attachment), in one writev, without copying either.
bool WriteFrame(int fd, const std::string& head, const char* bytes, size_t size) {
  iovec iov[2] = {{const_cast<char*>(head.data()), head.size()}, {const_cast<char*>(bytes), size}};
  int n = size ? 2 : 1;
  iovec* cur = iov;
  while (n > 0) {
    ssize_t w = ::writev(fd, cur, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    auto done = static_cast<size_t>(w);
    while (n > 0 && done >= cur->iov_len) {
      done -= cur->iov_len;
      ++cur;
      --n;
    }
    if (n > 0) {
      cur->iov_base = static_cast<char*>(cur->iov_base) + done;
      cur->iov_len -= done;
    }
  }
  return true;
}

}  // namespace

AgentServer::AgentServer(int fd, ServerOptions opts, int listen_fd)
    : fd_(fd), opts_(std::move(opts)), listen_fd_(listen_fd) {
  connected_ = fd_ >= 0;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  // A host that went away makes writes fail with EPIPE instead of killing the agent (as PID 1
  // in the VM it would survive anyway; on a socket in tests it would not). Children start
  // with an empty mask.
  sigset_t blocked = set;
  sigaddset(&blocked, SIGPIPE);
  sigprocmask(SIG_BLOCK, &blocked, nullptr);
  sigfd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  RegisterHandlers();
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

// The operations and their handlers (`wait` is held until its process exits: Wait()).
void AgentServer::RegisterHandlers() {
  On<op::Hello>(&AgentServer::Hello);
  On<op::Ack>(&AgentServer::AckEvents);
  On<op::CreateContainer>(&AgentServer::CreateContainer);
  On<op::StartContainer>(&AgentServer::StartContainer);
  On<op::Exec>(&AgentServer::Exec);
  On<op::Signal>(&AgentServer::Signal);
  On<op::WriteStdin>(&AgentServer::WriteStdin);
  On<op::CloseStdin>(&AgentServer::CloseStdin);
  On<op::ResizeTty>(&AgentServer::ResizeTty);
  On<op::Processes>(&AgentServer::Processes);
  On<op::Stats>(&AgentServer::Stats);
  On<op::Update>(&AgentServer::Update);
  On<op::Freeze>(&AgentServer::Freeze);
  On<op::BlobPut>(&AgentServer::BlobPut);
  On<op::BlobGet>(&AgentServer::BlobGet);
  On<op::BlobDrop>(&AgentServer::BlobDrop);
  On<op::CopyOut>(&AgentServer::CopyOut);
  On<op::CopyIn>(&AgentServer::CopyIn);
  On<op::ConfigureNetwork>(&AgentServer::ConfigureNetwork);
  On<op::GuestDetails>(&AgentServer::Details);
  On<op::Shutdown>(&AgentServer::Shutdown);
  On<op::Identity>(&AgentServer::Identity);
}

std::string AgentServer::FrameOf(const std::string& payload) {
  std::string frame;
  frame.reserve(4 + payload.size());
  for (int shift : {24, 16, 8, 0}) frame += static_cast<char>((payload.size() >> shift) & 0xff);
  frame += payload;
  return frame;
}

void AgentServer::Send(const Message& m) {
  if (fd_ < 0 || !connected_) return;  // a response for a host that left is dropped
  std::string payload = SerializeMessage(m);
  if (payload.size() > kMaxFrameBytes) return;  // cannot happen for our own bounded messages
  if (!WriteFrame(fd_, FrameOf(payload), nullptr, 0)) Disconnected();
}

// Output is most of the traffic: its JSON header is written directly (no tree) and the bytes
// go as the attachment, which matters when the guest's CPU is emulated.
void AgentServer::EmitOutput(Proc& p, int stream, Bytes data) {
  ++seq_;
  std::string text = R"({"v":2,"kind":"event","id":0,"op":"output","body":{"exec_id":)";
  text += json(p.id).dump(-1, ' ', false, json::error_handler_t::replace);
  text += stream == 0 ? R"(,"stream":"stdout","boot":)" : R"(,"stream":"stderr","boot":)";
  text += json(opts_.boot_id).dump(-1, ' ', false, json::error_handler_t::replace);
  text += R"(,"seq":)" + std::to_string(seq_) + "}}";
  // The payload is PayloadWithAttachment(text, data) without copying the data: its header
  // here, the bytes beside it.
  std::string head = PayloadWithAttachment(text, {});
  size_t payload = head.size() + data.size;
  head.insert(0, std::string{static_cast<char>(payload >> 24), static_cast<char>(payload >> 16),
                             static_cast<char>(payload >> 8), static_cast<char>(payload)});
  p.unacked += data.size;
  Queue({seq_, std::move(head), std::move(data), p.id});
}

void AgentServer::Queue(Pending ev) {
  backlog_bytes_ += ev.head.size() + ev.bytes.size;
  backlog_.push_back(std::move(ev));
  const Pending& last = backlog_.back();
  if (fd_ >= 0 && connected_ && replayed_ && !WriteFrame(fd_, last.head, last.bytes.data.get(), last.bytes.size)) {
    Disconnected();
  }
}

// Acknowledged events leave the backlog; the output among them returns its window to its process.
void AgentServer::Ack(uint64_t seq) {
  while (!backlog_.empty() && backlog_.front().seq <= seq) {
    Pending& ev = backlog_.front();
    backlog_bytes_ -= ev.head.size() + ev.bytes.size;
    if (!ev.exec_id.empty()) {
      if (auto p = procs_.find(ev.exec_id); p != procs_.end()) {
        p->second.unacked -= std::min(p->second.unacked, ev.bytes.size);
      }
    }
    backlog_.pop_front();
  }
}

bool AgentServer::OutputBlocked(const Proc& p) const {
  return p.unacked >= op::kOutputWindow || backlog_bytes_ >= opts_.backlog_bytes;
}

void AgentServer::Replay() {
  for (const auto& ev : backlog_) {
    if (!WriteFrame(fd_, ev.head, ev.bytes.data.get(), ev.bytes.size)) {
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
      if (OutputBlocked(p)) continue;  // its window is used up: its writes wait for acks
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
  if (m->op == op::Wait::kName) {
    Wait(*m);
    return;
  }
  auto handler = handlers_.find(m->op);
  Result<Message> result = handler == handlers_.end()
                               ? Result<Message>(Err(Status::NotImplemented("unknown op " + m->op)))
                               : handler->second(*m);
  if (result) {
    Send(*result);
  } else {
    Log(m->op + " failed: " + result.error().message());
    Send(Message::Failure(*m, result.error()));
  }
  if (replay_pending_ && connected_) {
    replay_pending_ = false;
    Replay();
  }
}

Result<op::Hello::Response> AgentServer::Hello(const op::Hello::Request& r) {
  if (r.version != kProtocolVersion) return Err(Status::Invalid("unsupported protocol version"));
  // The host says which events it has; the rest is replayed after this response.
  if (r.ack) Ack(*r.ack);
  replay_pending_ = true;
  struct utsname u{};
  ::uname(&u);
  op::Hello::Response out;
  out.version = kProtocolVersion;
  out.agent_version = opts_.agent_version;
  out.boot_id = opts_.boot_id;
  out.kernel = u.release;
  out.started_uptime_ms = opts_.started_uptime_ms;
  out.uptime_ms = UptimeMs();
  out.capabilities = {"exec",  "wait",  "signal", "stdin",  "tty",    "processes", "stats", "containers",
                      "disks", "copy",  "update", "freeze", "oom",    "shutdown",  "attachments", "output_window"};
  return out;
}

// As PID 1 in a clone: the host's bytes go into the guest's entropy pool, credited, and the
// CRNG is reseeded from it now (RNDRESEEDCRNG), so the clone's /dev/urandom stops repeating its
// template's; the wall clock jumps to the host's. Host-side tests (not PID 1) only take the
// boot id.
Result<op::Empty> AgentServer::Identity(const op::Identity::Request& r) {
  if (opts_.pid1) {
    std::string bytes;
    for (size_t i = 0; i + 1 < r.entropy_hex.size(); i += 2) {
      bytes += static_cast<char>(std::stoi(r.entropy_hex.substr(i, 2), nullptr, 16));
    }
    std::vector<char> buf(sizeof(rand_pool_info) + bytes.size());
    auto* info = reinterpret_cast<rand_pool_info*>(buf.data());
    info->entropy_count = static_cast<int>(bytes.size() * 8);
    info->buf_size = static_cast<int>(bytes.size());
    std::memcpy(info->buf, bytes.data(), bytes.size());
    int fd = ::open("/dev/urandom", O_RDWR | O_CLOEXEC);
    if (fd < 0) return Err(Status::Internal(std::string("open /dev/urandom: ") + std::strerror(errno)));
    bool ok = ::ioctl(fd, RNDADDENTROPY, info) == 0 && ::ioctl(fd, RNDRESEEDCRNG) == 0;
    int err = errno;
    ::close(fd);
    if (!ok) return Err(Status::Internal(std::string("reseeding the guest's RNG: ") + std::strerror(err)));
    timespec ts{static_cast<time_t>(r.realtime_ns / 1000000000), static_cast<long>(r.realtime_ns % 1000000000)};
    if (::clock_settime(CLOCK_REALTIME, &ts) != 0) {
      return Err(Status::Internal(std::string("setting the clock: ") + std::strerror(errno)));
    }
  }
  opts_.boot_id = r.boot_id;
  return op::Empty{};
}

Result<op::Empty> AgentServer::AckEvents(const op::Ack::Request& r) {
  Ack(r.seq);
  return op::Empty{};
}

Result<op::GuestDetails::Response> AgentServer::Details(const op::Empty&) {
  struct utsname u{};
  ::uname(&u);
  return op::GuestDetails::Response{u.release, opts_.agent_version};
}

Result<op::Stats::Response> AgentServer::Stats(const op::Empty&) {
  GuestStats g = ReadGuestStats();
  return op::Stats::Response{g.cpu_usage_usec,   g.mem_total_bytes,   g.mem_used_bytes, g.block_read_bytes,
                             g.block_write_bytes, g.net_rx_bytes, g.net_tx_bytes};
}

Result<op::Empty> AgentServer::Shutdown(const op::Empty&) {
  Log("shutdown requested");
  shutdown_ = true;
  return op::Empty{};
}

// The body comes from the host, but is checked like any input (ops.cc, net_config.cc).
Result<op::ConfigureNetwork::Response> AgentServer::ConfigureNetwork(const op::ConfigureNetwork::Request& r) {
  NetworkSettings s;
  for (const auto& n : r.nics) s.nics.push_back(NicSettings{n.mac, n.cidr, static_cast<int>(n.mtu)});
  s.gateway = r.gateway;
  auto names = ApplyNetwork(s);
  if (!names) return Err(names.error());
  return op::ConfigureNetwork::Response{*names};
}

}  // namespace zunvm::agent
