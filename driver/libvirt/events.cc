// LibvirtDriver: events of the guest agent (output, exits, OOM), the main process exiting, a
// VM lost behind our back.
#include "driver/libvirt/driver_internal.h"

#include "common/logging.h"

namespace zunvm::libvirt {

// ---- Events -----------------------------------------------------------------------------------

namespace {

// The process an event is about (a container's main process is named by the container id).
// Reads the JSON only: the attachment stays for the handler.
std::string EventProcess(const agent::Message& m) {
  if (m.op == agent::op::OutputEvent::kName) {
    auto ev = agent::op::OutputEvent::FromJson(m.body);
    return ev ? ev->exec_id : "";
  }
  if (m.op == agent::op::ExitEvent::kName) {
    auto ev = agent::op::ExitEvent::FromJson(m.body);
    return ev ? ev->status.exec_id : "";
  }
  return "";
}

}  // namespace

void LibvirtDriver::OnAgentEvent(const std::weak_ptr<Box>& weak, uint64_t gen, agent::Message& m) {
  auto b = weak.lock();
  if (!b) return;
  if (!b->members.empty()) {  // a pod's agent: the event is one member's
    {
      std::lock_guard<std::mutex> lock(b->mu);
      if (b->gen != gen) return;
    }
    auto target = EventTarget(*b, EventProcess(m));
    if (!target) return;
    {
      std::lock_guard<std::mutex> lock(target->mu);
      gen = target->gen;
    }
    b = target;
  }
  if (m.op == agent::op::OutputEvent::kName) {
    auto ev = agent::Get<agent::op::OutputEvent>(m);
    if (!ev) return;  // hostile or broken: dropped
    Stream stream = ev->stream == 2 ? Stream::kStderr : Stream::kStdout;
    std::vector<std::shared_ptr<ProcessSink>> sinks;
    if (ev->exec_id == b->uuid) {
      {
        std::lock_guard<std::mutex> lock(b->mu);
        if (b->gen != gen) return;
        for (const auto& [handle, sink] : b->watchers) sinks.push_back(sink);
      }
      for (const auto& sink : sinks) sink->OnOutput(ev->data);
      // The mark lets the log drop what a replay after a zunvmd restart sends again.
      OutputMark mark{ev->boot, ev->seq};
      if (events_) events_->OnOutput(b->uuid, stream, ev->data, mark);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(b->mu);
      auto it = b->execs.find(ev->exec_id);
      if (it == b->execs.end()) return;
      if (it->second->live) {
        sinks.push_back(it->second->live);
      } else if (it->second->out.size() < (size_t{16} << 20)) {
        it->second->out += ev->data;
      }
    }
    for (const auto& sink : sinks) sink->OnOutput(ev->data);
  } else if (m.op == agent::op::ExitEvent::kName) {
    auto ev = agent::Get<agent::op::ExitEvent>(m);
    if (!ev) return;
    const std::string& exec_id = ev->status.exec_id;
    int code = static_cast<int>(ev->status.exit_code);
    bool ours = false;
    std::shared_ptr<ProcessSink> live;
    {
      std::lock_guard<std::mutex> lock(b->mu);
      if (b->gen != gen) return;
      if (exec_id == b->uuid) {
        b->main_exit = code;
        ours = !b->stopping;
      } else if (auto it = b->execs.find(exec_id); it != b->execs.end()) {
        it->second->code = code;
        if (it->second->live) {
          live = std::move(it->second->live);
          b->execs.erase(it);
        }
      }
    }
    b->cv.notify_all();
    if (live) live->OnClosed(code);
    if (exec_id == b->uuid) CloseStreams(*b, code);
    if (ours) {
      Post([this, b, gen] {
        if (b->pod.empty()) {
          HandleMainExit(b, gen);
        } else {
          HandleMemberExit(b);
        }
      });
    }
  } else if (m.op == agent::op::OomEvent::kName) {
    auto ev = agent::Get<agent::op::OomEvent>(m);
    if (ev) Logger("libvirt")->info("sandbox {}: the container ran out of memory ({} OOM kills)", b->uuid, ev->oom_kills);
  }
}

void LibvirtDriver::CloseStreams(Box& b, std::optional<int> main_code) {
  std::vector<std::shared_ptr<ProcessSink>> watchers, execs;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    for (auto& [handle, sink] : b.watchers) watchers.push_back(std::move(sink));
    b.watchers.clear();
    for (auto it = b.execs.begin(); it != b.execs.end();) {
      if (it->second->live) {
        execs.push_back(std::move(it->second->live));
        it = b.execs.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& sink : watchers) sink->OnClosed(main_code);
  for (const auto& sink : execs) sink->OnClosed(std::nullopt);
}

// The main process exited on its own (or through Kill): shut the VM down, keep the exit code,
// and tell the service.
void LibvirtDriver::HandleMainExit(const std::shared_ptr<Box>& b, uint64_t gen) {
  int code;
  {
    std::lock_guard<std::mutex> op(b->op);
    {
      std::lock_guard<std::mutex> lock(b->mu);
      if (b->gen != gen || b->stopping || !b->main_exit) return;
      code = *b->main_exit;
    }
    Teardown(*b, /*graceful=*/true);
    Status st = Record(*b, [&](SandboxRecord& r) {
      r.state = RecordState::kStopped;
      r.exit_code = code;
    });
    if (!st.ok()) Logger("libvirt")->warn("sandbox {}: {}", b->uuid, st.ToString());
  }
  Logger("libvirt")->info("sandbox {}: main process exited with {}; VM shut down", b->uuid, code);
  if (events_) events_->OnExit(b->uuid, code);
}

// The VM may have died (a libvirt event, or the agent channel closed): if it really is gone,
// the sandbox is lost.
void LibvirtDriver::CheckLost(const std::shared_ptr<Box>& b, const std::string& reason) {
  if (!b->pod.empty()) return;  // its pod's VM is checked
  uint64_t gen;
  {
    std::lock_guard<std::mutex> lock(b->mu);
    if (!b->vm_up || b->stopping) return;
    gen = b->gen;
  }
  auto state = hv_->State(b->name());
  if (state && (*state == DomainState::kRunning || *state == DomainState::kPaused)) {
    std::shared_ptr<agent::AgentClient> a;
    {
      std::lock_guard<std::mutex> lock(b->mu);
      a = b->agent;
    }
    if (!a || a->Alive()) return;  // a stale event of an earlier VM
  } else if (!state && state.error().code() == Code::kUnavailable) {
    return;  // libvirt is away; checked again after the reconnect
  }
  std::shared_ptr<agent::AgentClient> a;
  {
    std::lock_guard<std::mutex> lock(b->mu);
    if (b->gen != gen || !b->vm_up || b->stopping) return;
    b->vm_up = false;
    b->lost = true;
    b->lost_reason = reason;
    b->gen++;
    a = std::move(b->agent);
  }
  b->cv.notify_all();
  CloseStreams(*b, std::nullopt);
  (void)hv_->Destroy(b->name());  // the agent may be dead in a live VM
  a.reset();
  Logger("libvirt")->warn("sandbox {} lost: {}", b->uuid, reason);
  DetachMembers(*b, true, "The sandbox VM stopped unexpectedly: " + reason);
  if (events_) events_->OnLost(b->uuid, "The sandbox VM stopped unexpectedly: " + reason);
}

}  // namespace zunvm::libvirt
