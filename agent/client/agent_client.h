// AgentClient: the host side of the agent channel. Owns one connected stream socket (the VM's
// virtio-serial unix socket, or a socketpair in tests), a reader thread that matches responses
// to calls and hands events to a callback, and request ids. Calls are typed (agent/protocol/
// ops.h): Call<op::Exec>(request, timeout) returns the op::Exec::Response.
//
// Flow control: every event is acknowledged once its handler has returned (in batches: every
// 64 events or 256 KiB of attachments, and on Ack()). The guest sends a process at most 1 MiB
// of output ahead of these acknowledgements, so a handler that is slow to store output slows
// the process down instead of growing anyone's memory, and nothing is dropped.
//
// Thread safety: all methods are thread-safe; calls from several threads are multiplexed. Every
// call has a deadline (DeadlineExceeded past it). When the guest goes away (EOF, a bad frame)
// pending and later calls fail with Unavailable and the event callback gets nothing more.
// The event callback runs on the reader thread and must not block or call back synchronously.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/protocol/message.h"
#include "agent/protocol/typed.h"
#include "common/status.h"

namespace zunvm::agent {

class AgentClient {
 public:
  // Gets each event once (replays of delivered ones are dropped); may move its `data` out.
  using EventHandler = std::function<void(Message&)>;

  // Takes ownership of a connected stream socket. `last_seq`: the last event a previous
  // connection delivered; replays up to it are dropped, so each event is handed over once.
  AgentClient(int fd, EventHandler on_event, uint64_t last_seq = 0);
  ~AgentClient();
  // Connects to a unix socket, retrying until the deadline (the VM may still be starting).
  static Result<std::unique_ptr<AgentClient>> Connect(const std::string& path,
                                                      std::chrono::milliseconds timeout,
                                                      EventHandler on_event,
                                                      uint64_t last_seq = 0);

  // One operation: its request out, its response back (or its error).
  template <typename Op>
  Result<typename Op::Response> Call(const typename Op::Request& request, std::chrono::milliseconds timeout) {
    Message m = Message::Request(0, Op::kName);
    Put(m, request);
    auto r = Exchange(std::move(m), timeout);
    if (!r) return Err(r.error());
    return Get<typename Op::Response>(*r);
  }
  // Untyped: `request` as it is (its id is set here), the response message. For tests and
  // tools that send what the types would not.
  Result<Message> Exchange(Message request, std::chrono::milliseconds timeout);
  bool Alive() const { return alive_; }

  // Files as tar, moved through the agent's blob store in chunks that fit a frame; `timeout`
  // bounds the whole transfer. CopyOut returns the archive and fills `stat` (name, size, mode,
  // mtime, link_target); CopyIn extracts `tar` into the directory `path` of the container.
  Result<std::string> CopyOut(const std::string& container, const std::string& path,
                              op::PathStat* stat, std::chrono::milliseconds timeout);
  Status CopyIn(const std::string& container, const std::string& path, const std::string& tar,
                std::chrono::milliseconds timeout);
  // The sequence number of the last event whose handler has returned (pass it to the next connection and to
  // `hello {ack}` after a reconnect).
  uint64_t LastSeq() const { return last_seq_; }
  // Acknowledges every event delivered so far (the guest frees them), without waiting. The
  // reader acknowledges every 64th event itself; callers that persist events call this on a timer
  // so a restart replays little.
  void Ack();

 private:
  // Exchange without its metrics.
  Result<Message> ExchangeOnce(Message request, std::chrono::milliseconds timeout);
  struct Pending {
    bool done = false;
    Result<Message> result = Message{};
  };
  void ReadLoop();
  void FailAll(const Status& st);
  // Sends an acknowledgement of `seq` nobody waits for.
  void SendAck(uint64_t seq);
  Status WriteFrame(const std::string& frame);

  int fd_;
  EventHandler on_event_;
  std::mutex mu_;              // guards pending_, next_id_
  std::mutex write_mu_;        // one frame at a time on the socket
  std::condition_variable cv_;
  std::map<uint64_t, std::shared_ptr<Pending>> pending_;
  uint64_t next_id_ = 1;
  std::atomic<uint64_t> next_blob_{1};
  std::atomic<bool> alive_{true};
  std::atomic<uint64_t> last_seq_{0};
  // Delivered since the last acknowledgement (reader thread only).
  uint64_t unacked_events_ = 0;
  size_t unacked_bytes_ = 0;
  std::thread reader_;
};

}  // namespace zunvm::agent
