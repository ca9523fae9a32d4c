#include "agent/client/agent_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/protocol/frame.h"
#include "common/metrics.h"

namespace zunvm::agent {

using nlohmann::json;

namespace {
// Acknowledge after this many events or bytes of attachments: well inside the guest's
// per-process output window (1 MiB), so a fast producer never waits on a round trip.
constexpr uint64_t kAckEvents = 64;
constexpr size_t kAckBytes = 256 << 10;
}  // namespace

AgentClient::AgentClient(int fd, EventHandler on_event, uint64_t last_seq)
    : fd_(fd), on_event_(std::move(on_event)), last_seq_(last_seq) {
  reader_ = std::thread([this] { ReadLoop(); });
}

AgentClient::~AgentClient() {
  ::shutdown(fd_, SHUT_RDWR);
  if (reader_.joinable()) reader_.join();
  ::close(fd_);
}

Result<std::unique_ptr<AgentClient>> AgentClient::Connect(const std::string& path,
                                                          std::chrono::milliseconds timeout,
                                                          EventHandler on_event,
                                                          uint64_t last_seq) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return Err(Status::Invalid("socket path too long"));
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Err(Status::Unavailable(std::string("socket: ") + std::strerror(errno)));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      return std::make_unique<AgentClient>(fd, std::move(on_event), last_seq);
    }
    last = std::strerror(errno);
    ::close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // qemu creates it at start
  }
  return Err(Status(Code::kDeadlineExceeded, "cannot connect to " + path + ": " + last));
}

void AgentClient::FailAll(const Status& st) {
  std::lock_guard<std::mutex> lock(mu_);
  alive_ = false;
  for (auto& [id, p] : pending_) {
    if (!p->done) {
      p->done = true;
      p->result = Err(st);
    }
  }
  cv_.notify_all();
}

void AgentClient::ReadLoop() {
  FrameDecoder decoder;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      FailAll(Status::Unavailable("the guest agent closed the channel"));
      return;
    }
    decoder.Feed(std::string_view(buf, static_cast<size_t>(n)));
    for (;;) {
      auto f = decoder.Next();
      if (!f) {
        FailAll(Status::Unavailable("the guest agent sent a bad frame: " + f.error().message()));
        return;
      }
      if (!*f) break;
      auto m = ParseMessage(**f);
      if (!m) continue;  // a bad message is dropped; its caller times out
      if (m->kind == Kind::kEvent) {
        auto s = m->body.find("seq");
        uint64_t seq = s != m->body.end() && s->is_number_unsigned() ? s->get<uint64_t>() : 0;
        if (seq != 0 && seq <= last_seq_) continue;  // a replay of something already delivered
        size_t bytes = m->data.size();
        if (on_event_) on_event_(*m);
        if (seq == 0) continue;
        last_seq_ = seq;  // after the handler: Ack() never covers an unhandled event
        // The acknowledgement is also the guest's credit to send more output.
        ++unacked_events_;
        unacked_bytes_ += bytes;
        if (unacked_events_ >= kAckEvents || unacked_bytes_ >= kAckBytes) SendAck(seq);
        continue;
      }
      if (m->kind != Kind::kResponse) continue;
      std::lock_guard<std::mutex> lock(mu_);
      auto it = pending_.find(m->id);
      if (it == pending_.end() || it->second->done) continue;  // late or unknown: ignored
      it->second->done = true;
      if (m->error) it->second->result = Err(*m->error);
      else it->second->result = std::move(*m);
      cv_.notify_all();
    }
  }
}

Status AgentClient::WriteFrame(const std::string& frame) {
  std::lock_guard<std::mutex> wlock(write_mu_);
  size_t off = 0;
  while (off < frame.size()) {
    ssize_t n = ::send(fd_, frame.data() + off, frame.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::Unavailable(std::string("writing to the agent: ") + std::strerror(errno));
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

void AgentClient::SendAck(uint64_t seq) {
  unacked_events_ = 0;
  unacked_bytes_ = 0;
  Message m;
  {
    std::lock_guard<std::mutex> lock(mu_);
    m = Message::Request(next_id_++, op::Ack::kName);
  }
  Put(m, op::Ack::Request{seq});
  auto frame = EncodeFrame(SerializeMessage(m));
  if (frame) (void)WriteFrame(*frame);  // a lost ack only delays the guest's credit
}

void AgentClient::Ack() {
  uint64_t seq = last_seq_;
  if (seq != 0 && alive_) SendAck(seq);
}

Result<Message> AgentClient::Exchange(Message request, std::chrono::milliseconds timeout) {
  static auto& calls = metrics::Global().Histogram(
      "zunvm_agent_call_seconds", "Round trips to guest agents (and host-side monitors speaking their protocol)",
      {"op", "outcome"}, metrics::RequestSeconds());
  const auto t0 = std::chrono::steady_clock::now();
  const std::string op = request.op;
  auto r = ExchangeOnce(std::move(request), timeout);
  calls.Observe({op, r ? "ok" : "error"}, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return r;
}

Result<Message> AgentClient::ExchangeOnce(Message request, std::chrono::milliseconds timeout) {
  auto p = std::make_shared<Pending>();
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!alive_) return Err(Status::Unavailable("the guest agent is gone"));
    id = next_id_++;
    pending_[id] = p;
  }
  const std::string op = request.op;
  request.kind = Kind::kRequest;
  request.id = id;
  auto frame = EncodeFrame(SerializeMessage(request));
  if (!frame) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.erase(id);
    return Err(frame.error());
  }
  Status written = WriteFrame(*frame);
  if (!written.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.erase(id);
    return Err(written);
  }
  std::unique_lock<std::mutex> lock(mu_);
  bool done = cv_.wait_for(lock, timeout, [&] { return p->done; });
  pending_.erase(id);
  if (!done) return Err(Status(Code::kDeadlineExceeded, "agent call " + op + " timed out"));
  return std::move(p->result);
}

namespace {

std::chrono::milliseconds Left(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

}  // namespace

Result<std::string> AgentClient::CopyOut(const std::string& container, const std::string& path,
                                         op::PathStat* stat, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string blob = "out-" + std::to_string(next_blob_++);
  auto r = Call<op::CopyOut>({container, path, blob}, timeout);
  if (!r) return Err(r.error());
  if (stat) *stat = r->stat;
  std::string tar;
  Status st = Status::Ok();
  while (tar.size() < r->size) {
    auto c = Call<op::BlobGet>({blob, tar.size(), op::kMaxBlobChunk}, Left(deadline));
    if (!c) {
      st = c.error();
      break;
    }
    if (c->data.empty() || tar.size() + c->data.size() > r->size) {
      st = Status::Internal("agent sent a bad blob chunk");
      break;
    }
    tar += c->data;
  }
  (void)Call<op::BlobDrop>({blob}, Left(deadline));
  if (!st.ok()) return Err(st);
  return tar;
}

Status AgentClient::CopyIn(const std::string& container, const std::string& path,
                           const std::string& tar, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string blob = "in-" + std::to_string(next_blob_++);
  size_t off = 0;
  do {
    auto r = Call<op::BlobPut>({blob, off, tar.substr(off, op::kMaxBlobChunk)}, Left(deadline));
    if (!r) {
      (void)Call<op::BlobDrop>({blob}, Left(deadline));
      return r.error();
    }
    off = std::min(tar.size(), off + op::kMaxBlobChunk);
  } while (off < tar.size());
  auto r = Call<op::CopyIn>({container, path, blob}, Left(deadline));
  if (!r) return r.error();
  return Status::Ok();
}

}  // namespace zunvm::agent
