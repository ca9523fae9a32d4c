#include "service/console_service.h"

#include "common/ids.h"
#include "common/logging.h"
#include "service/container_service.h"
#include "service/state_table.h"

namespace zunvm {

namespace {

Status BadTicket() {
  return Status(Code::kUnauthorized, "The console ticket is unknown, expired or already used.",
                "InvalidWebsocketToken");
}

}  // namespace

// ---- sessions -----------------------------------------------------------------------------------

class ConsoleService::AttachSession : public ConsoleSession {
 public:
  AttachSession(SandboxDriver* d, std::string uuid, uint64_t handle)
      : driver_(d), uuid_(std::move(uuid)), handle_(handle) {}
  ~AttachSession() override { Close(); }
  Status Write(const std::string& data) override { return driver_->WriteStdin(uuid_, "", data); }
  Status Resize(int w, int h) override { return driver_->ResizeTty(uuid_, w, h); }
  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    driver_->Unwatch(uuid_, handle_);
  }

 private:
  SandboxDriver* driver_;
  std::string uuid_;
  uint64_t handle_;
  std::mutex mu_;
  bool closed_ = false;
};

class ConsoleService::ExecSession : public ConsoleSession {
 public:
  ExecSession(ConsoleService* svc, std::string uuid, std::string exec_id, std::string process)
      : svc_(svc), uuid_(std::move(uuid)), exec_id_(std::move(exec_id)), process_(std::move(process)) {}
  ~ExecSession() override { Close(); }
  Status Write(const std::string& data) override { return svc_->driver_->WriteStdin(uuid_, process_, data); }
  Status Resize(int w, int h) override { return svc_->driver_->ResizeProcess(uuid_, process_, w, h); }
  void Close() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      closed_ = true;
    }
    // The client went away: the process's terminal hangs up, as when an ssh session drops.
    // An error only means it already ended.
    (void)svc_->driver_->CloseStdin(uuid_, process_);
    svc_->ExecEnded(exec_id_);
  }

 private:
  ConsoleService* svc_;
  std::string uuid_, exec_id_, process_;
  std::mutex mu_;
  bool closed_ = false;
};

// ---- the service --------------------------------------------------------------------------------

ConsoleService::ConsoleService(ContainerService* containers, SandboxDriver* driver, ConsoleOptions opts, Now now)
    : containers_(containers), driver_(driver), opts_(opts), now_(std::move(now)) {
  if (!now_) now_ = [] { return std::chrono::steady_clock::now(); };
}

void ConsoleService::Prune() {
  auto now = now_();
  for (auto it = tickets_.begin(); it != tickets_.end();) {
    it = it->second.expires <= now ? tickets_.erase(it) : std::next(it);
  }
  for (auto it = execs_.begin(); it != execs_.end();) {
    it = !it->second.started && it->second.expires <= now ? execs_.erase(it) : std::next(it);
  }
  auto oldest = [](auto& m) {
    auto victim = m.begin();
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (it->second.expires < victim->second.expires) victim = it;
    }
    return victim;
  };
  while (tickets_.size() >= opts_.max_pending) tickets_.erase(oldest(tickets_));
  size_t unstarted = 0;
  for (const auto& [id, e] : execs_) unstarted += e.started ? 0 : 1;
  while (unstarted >= opts_.max_pending) {
    auto victim = execs_.end();
    for (auto it = execs_.begin(); it != execs_.end(); ++it) {
      if (!it->second.started && (victim == execs_.end() || it->second.expires < victim->second.expires)) victim = it;
    }
    execs_.erase(victim);
    --unstarted;
  }
}

std::string ConsoleService::NewTicket(const ConsoleTarget& target) {
  Prune();
  std::string t = RandomHex(32);
  tickets_[t] = Ticket{target, now_() + opts_.ticket_ttl};
  return t;
}

Result<ConsoleGrant> ConsoleService::AttachTicket(const RequestContext& ctx, const std::string& ident) {
  auto c = containers_->Lookup(ctx, ident);
  if (!c) return Err(c.error());
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kAttach, c->uuid, c->status));
  if (!c->interactive) {
    return Err(Status::Invalid("Container doesn't support to be attached, please check the "
                               "interactive set properly", "NoInteractiveFlag"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  return ConsoleGrant{c->uuid, "", NewTicket(ConsoleTarget{c->uuid, "", c->tty})};
}

Result<ConsoleGrant> ConsoleService::CreateExec(const RequestContext& ctx, const std::string& ident,
                                                const std::vector<std::string>& argv) {
  auto c = containers_->Lookup(ctx, ident);
  if (!c) return Err(c.error());
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kExecute, c->uuid, c->status));
  if (argv.empty()) return Err(Status::Invalid("The command is empty."));
  std::lock_guard<std::mutex> lock(mu_);
  Prune();
  std::string id = RandomHex(32);
  execs_[id] = ExecInstance{c->uuid, argv, now_() + opts_.ticket_ttl, false, "", 0, 0};
  return ConsoleGrant{c->uuid, id, NewTicket(ConsoleTarget{c->uuid, id, true})};
}

Status ConsoleService::ResizeExec(const RequestContext& ctx, const std::string& ident, const std::string& exec_id,
                                  int width, int height) {
  auto c = containers_->Lookup(ctx, ident);
  if (!c) return c.error();
  ZUNVM_RETURN_IF_ERROR(CheckAllowed(Op::kExecuteResize, c->uuid, c->status));
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = execs_.find(exec_id);
    if (it == execs_.end() || it->second.uuid != c->uuid) {
      return Status::Invalid("No exec instance " + exec_id + " in container " + c->uuid + ".");
    }
  }
  return ResizeExecById(exec_id, width, height);
}

Status ConsoleService::ResizeExecById(const std::string& exec_id, int width, int height) {
  if (width < 1 || height < 1 || width > 10000 || height > 10000) {
    return Status::Invalid("Invalid tty size " + std::to_string(width) + "x" + std::to_string(height) + ".");
  }
  std::string uuid, process;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = execs_.find(exec_id);
    if (it == execs_.end()) return Status::Invalid("No exec instance " + exec_id + ".");
    it->second.width = width;
    it->second.height = height;
    if (it->second.process.empty()) return Status::Ok();  // applies at its start
    uuid = it->second.uuid;
    process = it->second.process;
  }
  Status st = driver_->ResizeProcess(uuid, process, width, height);
  if (!st.ok() && st.code() != Code::kInvalidArgument) {
    // The process may just have ended: still a 400 for the client, which tolerates only that.
    return Status::Invalid("The exec instance " + exec_id + " cannot be resized: " + st.message());
  }
  return st;
}

Result<ConsoleTarget> ConsoleService::Redeem(const std::string& ticket, const ConsoleTarget& want) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tickets_.find(ticket);
  if (it == tickets_.end() || it->second.expires <= now_()) {
    if (it != tickets_.end()) tickets_.erase(it);
    return Err(BadTicket());
  }
  ConsoleTarget t = it->second.target;
  if (t.uuid != want.uuid || t.exec_id != want.exec_id) {
    // Not used up: a ticket shown at the wrong door is still its owner's.
    return Err(Status(Code::kForbidden, "The console ticket is for another console.", "Forbidden"));
  }
  tickets_.erase(it);
  if (!t.exec_id.empty()) {
    auto e = execs_.find(t.exec_id);
    if (e == execs_.end() || e->second.started) return Err(BadTicket());
    e->second.started = true;
  }
  return t;
}

Result<ConsoleTarget> ConsoleService::RedeemExecId(const std::string& exec_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto e = execs_.find(exec_id);
  if (e == execs_.end() || e->second.started || e->second.expires <= now_()) return Err(BadTicket());
  e->second.started = true;
  // Its websocket ticket can no longer open it.
  for (auto it = tickets_.begin(); it != tickets_.end();) {
    it = it->second.target.exec_id == exec_id ? tickets_.erase(it) : std::next(it);
  }
  return ConsoleTarget{e->second.uuid, exec_id, true};
}

Result<std::unique_ptr<ConsoleSession>> ConsoleService::Open(const ConsoleTarget& target,
                                                           std::shared_ptr<ProcessSink> sink) {
  if (target.exec_id.empty()) {
    auto handle = driver_->Watch(target.uuid, std::move(sink));
    if (!handle) return Err(handle.error());
    return std::unique_ptr<ConsoleSession>(new AttachSession(driver_, target.uuid, *handle));
  }
  std::vector<std::string> argv;
  int w = 0, h = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto e = execs_.find(target.exec_id);
    if (e == execs_.end()) return Err(BadTicket());
    argv = e->second.argv;
    w = e->second.width;
    h = e->second.height;
  }
  auto process = driver_->ExecInteractive(target.uuid, argv, target.tty, w, h, std::move(sink));
  if (!process) {
    ExecEnded(target.exec_id);
    return Err(process.error());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto e = execs_.find(target.exec_id);
    if (e != execs_.end()) {
      e->second.process = *process;
      // A resize that came while the process was starting.
      if ((e->second.width != w || e->second.height != h) && e->second.width > 0) {
        w = e->second.width;
        h = e->second.height;
      } else {
        w = 0;
      }
    }
  }
  if (w > 0) (void)driver_->ResizeProcess(target.uuid, *process, w, h);
  return std::unique_ptr<ConsoleSession>(new ExecSession(this, target.uuid, target.exec_id, *process));
}

void ConsoleService::ExecEnded(const std::string& exec_id) {
  std::lock_guard<std::mutex> lock(mu_);
  execs_.erase(exec_id);
}

}  // namespace zunvm
