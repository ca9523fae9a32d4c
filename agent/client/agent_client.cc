#include "agent/client/agent_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/protocol/frame.h"
#include "common/base64.h"

namespace zunvm::agent {

using nlohmann::json;

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
        uint64_t seq = m->body.value("seq", uint64_t{0});
        if (seq != 0 && seq <= last_seq_) continue;  // a replay of something already delivered
        if (on_event_) on_event_(*m);
        if (seq != 0) last_seq_ = seq;  // after the handler: Ack() never covers an unhandled event
        if (seq % 64 == 0 && seq != 0) SendOneWay("ack", {{"seq", seq}});  // frees the guest's backlog
        continue;
      }
      if (m->kind != Kind::kResponse) continue;
      std::lock_guard<std::mutex> lock(mu_);
      auto it = pending_.find(m->id);
      if (it == pending_.end() || it->second->done) continue;  // late or unknown: ignored
      it->second->done = true;
      it->second->result = m->error ? Result<json>(Err(*m->error)) : Result<json>(std::move(m->body));
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

void AgentClient::SendOneWay(const std::string& op, json body) {
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = next_id_++;
  }
  auto frame = EncodeFrame(SerializeMessage(Message::Request(id, op, std::move(body))));
  if (frame) (void)WriteFrame(*frame);  // a lost ack only delays freeing the guest's backlog
}

void AgentClient::Ack() {
  uint64_t seq = last_seq_;
  if (seq != 0 && alive_) SendOneWay("ack", {{"seq", seq}});
}

Result<json> AgentClient::Call(const std::string& op, json body, std::chrono::milliseconds timeout) {
  auto p = std::make_shared<Pending>();
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!alive_) return Err(Status::Unavailable("the guest agent is gone"));
    id = next_id_++;
    pending_[id] = p;
  }
  auto frame = EncodeFrame(SerializeMessage(Message::Request(id, op, std::move(body))));
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

constexpr size_t kChunk = size_t{512} << 10;  // the agent's largest blob chunk

std::chrono::milliseconds Left(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

}  // namespace

Result<std::string> AgentClient::CopyOut(const std::string& container, const std::string& path,
                                         nlohmann::json* stat, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string blob = "out-" + std::to_string(next_blob_++);
  auto r = Call("copy_out", {{"container", container}, {"path", path}, {"blob", blob}}, timeout);
  if (!r) return Err(r.error());
  if (stat) *stat = r->value("stat", nlohmann::json::object());
  uint64_t size = r->value("size", uint64_t{0});
  std::string tar;
  Status st = Status::Ok();
  while (tar.size() < size) {
    auto c = Call("blob_get", {{"blob", blob}, {"offset", tar.size()}, {"length", kChunk}}, Left(deadline));
    if (!c) {
      st = c.error();
      break;
    }
    auto data = Base64Decode(c->value("data", ""));
    if (!data || data->empty() || tar.size() + data->size() > size) {
      st = Status::Internal("agent sent a bad blob chunk");
      break;
    }
    tar += *data;
  }
  (void)Call("blob_drop", {{"blob", blob}}, Left(deadline));
  if (!st.ok()) return Err(st);
  return tar;
}

Status AgentClient::CopyIn(const std::string& container, const std::string& path,
                           const std::string& tar, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string blob = "in-" + std::to_string(next_blob_++);
  size_t off = 0;
  do {
    std::string chunk = tar.substr(off, kChunk);
    auto r = Call("blob_put", {{"blob", blob}, {"offset", off}, {"data", Base64Encode(chunk)}}, Left(deadline));
    if (!r) {
      (void)Call("blob_drop", {{"blob", blob}}, Left(deadline));
      return r.error();
    }
    off += chunk.size();
  } while (off < tar.size());
  auto r = Call("copy_in", {{"container", container}, {"path", path}, {"blob", blob}}, Left(deadline));
  if (!r) return r.error();
  return Status::Ok();
}

}  // namespace zunvm::agent
