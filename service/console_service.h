// ConsoleService: interactive consoles of containers (attach to the main process, interactive
// execs) and the single-use tickets that open them (docs/console.md).
//
// Tickets are 64 hex characters from OpenSSL's RNG, valid for `ticket_ttl`, redeemable once,
// and bound to one target: the attach of one container, or one exec instance. An exec
// instance (`execute?interactive=true&run=false`) has a 64-hex id; it starts when a console
// opens it (a websocket with its ticket, or Docker's exec start, where the unguessable id is
// the credential), at most once and within `ticket_ttl`; until then it can be resized and the
// size applies at its start. Nothing here survives a zunvmd restart: open consoles end with it.
//
// Errors: Unauthorized for an unknown, expired or used ticket or exec id; Forbidden for a
// ticket of another target; the container's errors (NotFound, Conflict) as the service gives
// them. Thread safety: all methods are thread-safe; the sink of Open is called on driver
// threads (ProcessSink's contract).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "driver/driver.h"
#include "model/request_context.h"

namespace zunvm {

class ContainerService;

struct ConsoleOptions {
  std::chrono::seconds ticket_ttl{30};
  size_t max_pending = 4096;  // tickets and unstarted exec instances each; the oldest go first
};

// What a ticket or exec id opens.
struct ConsoleTarget {
  std::string uuid;     // the container
  std::string exec_id;  // empty: attach to the main process
  bool tty = false;
};

// A ticket handed to a client: the container it is for and, for an exec, the instance.
struct ConsoleGrant {
  std::string uuid, exec_id, ticket;
};

// One open console. Write blocks until the guest took the bytes (one call at a time per
// session: the stdin direction's flow control). Close (or destruction) detaches: an attach
// leaves the container and its stdin as they are; an exec gets its stdin closed (a tty: hangup).
class ConsoleSession {
 public:
  virtual ~ConsoleSession() = default;
  virtual Status Write(const std::string& data) = 0;
  virtual Status Resize(int width, int height) = 0;
  virtual void Close() = 0;
};

class ConsoleService {
 public:
  using Now = std::function<std::chrono::steady_clock::time_point()>;
  ConsoleService(ContainerService* containers, SandboxDriver* driver, ConsoleOptions opts, Now now = nullptr);

  // The REST side. Attach: the container must be running and interactive (Zun's rule).
  Result<ConsoleGrant> AttachTicket(const RequestContext& ctx, const std::string& ident);
  // An interactive exec of argv (with a tty, as Zun's Docker driver makes it); not started.
  Result<ConsoleGrant> CreateExec(const RequestContext& ctx, const std::string& ident,
                                  const std::vector<std::string>& argv);
  // Resizes an exec instance of the container (live once started). NotFound-like errors are
  // Invalid (400): the CLI tolerates only that.
  Status ResizeExec(const RequestContext& ctx, const std::string& ident, const std::string& exec_id,
                    int width, int height);

  // The console listener's side. Redeem uses the ticket up; `want` is what the URL names.
  Result<ConsoleTarget> Redeem(const std::string& ticket, const ConsoleTarget& want);
  // Docker's exec start: the exec id itself, once, within the ttl.
  Result<ConsoleTarget> RedeemExecId(const std::string& exec_id);
  // Resize through Docker's exec resize (id known, started or not).
  Status ResizeExecById(const std::string& exec_id, int width, int height);
  // Opens the console of a redeemed target; `sink` gets its output and end.
  Result<std::unique_ptr<ConsoleSession>> Open(const ConsoleTarget& target, std::shared_ptr<ProcessSink> sink);

 private:
  struct Ticket {
    ConsoleTarget target;
    std::chrono::steady_clock::time_point expires;
  };
  struct ExecInstance {
    std::string uuid;
    std::vector<std::string> argv;
    std::chrono::steady_clock::time_point expires;  // unless started
    bool started = false;
    std::string process;  // the driver's id once running
    int width = 0, height = 0;
  };
  class AttachSession;
  class ExecSession;
  std::string NewTicket(const ConsoleTarget& target);  // mu_ held
  void Prune();                                        // mu_ held
  void ExecEnded(const std::string& exec_id);

  ContainerService* containers_;
  SandboxDriver* driver_;
  ConsoleOptions opts_;
  Now now_;
  std::mutex mu_;
  std::map<std::string, Ticket> tickets_;
  std::map<std::string, ExecInstance> execs_;
};

}  // namespace zunvm
