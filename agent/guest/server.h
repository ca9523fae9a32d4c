// AgentServer: the guest agent's protocol loop. Serves requests from the host over one channel
// (the virtio-serial port, or a socket in tests), runs processes, and streams their output and
// exits back as events. Single-threaded: one poll loop over the channel, the processes' pipes
// and a signalfd for SIGCHLD.
//
// The host is untrusted input too: a bad frame drops the connection (the agent then waits for
// the next host), a bad message gets an error response, nothing crashes the agent.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/protocol/frame.h"
#include "agent/protocol/message.h"

namespace zunvm::agent {

struct ServerOptions {
  bool pid1 = false;            // reaps every child; shutdown powers the VM off
  bool exit_on_eof = true;      // tests: the host closing the channel ends the loop
  std::string boot_id;
  std::string agent_version = "0.1.0";
};

class AgentServer {
 public:
  // `fd` is the channel, read and written; owned by the caller.
  AgentServer(int fd, ServerOptions opts);
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
    int exit_code = 0;
  };
  void HandlePayload(const std::string& payload);
  Result<nlohmann::json> Dispatch(const Message& m);
  Result<nlohmann::json> Exec(const nlohmann::json& body);
  Result<nlohmann::json> Signal(const nlohmann::json& body);
  Result<nlohmann::json> WriteStdin(const nlohmann::json& body, bool close_after);
  Result<nlohmann::json> ResizeTty(const nlohmann::json& body);
  nlohmann::json Processes() const;
  void Send(const Message& m);
  void PumpOutput(Proc& p, int& fd, const char* stream);
  void ReapChildren();
  void MaybeFinish(Proc& p);

  int fd_;
  ServerOptions opts_;
  int sigfd_ = -1;
  FrameDecoder decoder_;
  std::map<std::string, Proc> procs_;
  bool shutdown_ = false;
  bool channel_broken_ = false;
};

}  // namespace zunvm::agent
