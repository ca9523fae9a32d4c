// LibvirtDriver: pods (driver.h SandboxSpec::members): one VM, several containers. The pod's
// box owns the VM, its NICs and disks; each member has a box of its own (its state, exits,
// execs, console watchers) that borrows the pod's agent. A member's exit leaves the VM running
// (the agent removes the exited container); its next Start creates it again in the same VM.
#include <algorithm>
#include <csignal>

#include "common/ids.h"
#include "common/logging.h"
#include "driver/libvirt/driver_internal.h"

namespace zunvm::libvirt {

namespace {

bool Live(RecordState s) { return s == RecordState::kRunning || s == RecordState::kPaused; }

}  // namespace

Status LibvirtDriver::MakeMembers(const std::shared_ptr<Box>& pod) {
  std::vector<std::shared_ptr<Box>> made;
  for (const auto& spec : pod->rec.spec.members) {
    if (!IsUuidLike(spec.uuid)) return Status::Invalid("bad member uuid " + spec.uuid);
    auto m = std::make_shared<Box>();
    m->uuid = spec.uuid;
    m->dir = pod->dir;
    m->pod = pod->uuid;
    m->domain = pod->name();
    m->rec.spec = spec;
    m->rec.state = RecordState::kCreated;
    if (auto it = pod->rec.members.find(spec.uuid); it != pod->rec.members.end()) {
      m->rec.state = it->second.state;
      m->rec.exit_code = it->second.exit_code;
    }
    made.push_back(m);
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& m : made) {
    if (auto it = boxes_.find(m->uuid); it != boxes_.end() && it->second->pod != pod->uuid) {
      return Status::Conflict("Sandbox " + m->uuid + " already exists");
    }
  }
  pod->members.clear();
  for (const auto& m : made) {
    boxes_[m->uuid] = m;
    pod->members.push_back(m->uuid);
  }
  return Status::Ok();
}

void LibvirtDriver::DropMembers(Box& pod) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& uuid : pod.members) {
    if (auto it = boxes_.find(uuid); it != boxes_.end() && it->second->pod == pod.uuid) boxes_.erase(it);
  }
}

void LibvirtDriver::AttachMembers(Box& pod) {
  std::shared_ptr<agent::AgentClient> a;
  {
    std::lock_guard<std::mutex> lock(pod.mu);
    a = pod.agent;
  }
  for (const auto& uuid : pod.members) {
    auto m = Find(uuid);
    if (!m) continue;
    std::lock_guard<std::mutex> lock(m->mu);
    m->agent = a;
    m->vm_up = a != nullptr;
    m->lost = false;
    m->vm_cpu = pod.vm_cpu;
    m->vm_mem_mib = pod.vm_mem_mib;
  }
}

void LibvirtDriver::DetachMembers(Box& pod, bool lost, const std::string& reason) {
  for (const auto& uuid : pod.members) {
    auto m = Find(uuid);
    if (!m) continue;
    {
      std::lock_guard<std::mutex> lock(m->mu);
      m->vm_up = false;
      m->agent.reset();
      m->gen++;
      m->execs.clear();
      if (lost) {
        m->lost = true;
        m->lost_reason = reason;
      }
    }
    m->cv.notify_all();
    CloseStreams(*m, std::nullopt);
    if (lost && events_) events_->OnLost(m->uuid, reason);
  }
}

std::shared_ptr<LibvirtDriver::Box> LibvirtDriver::EventTarget(Box& pod, const std::string& exec_id) {
  for (const auto& uuid : pod.members) {
    auto m = Find(uuid);
    if (!m) continue;
    if (m->uuid == exec_id) return m;
    std::lock_guard<std::mutex> lock(m->mu);
    if (m->execs.count(exec_id)) return m;
  }
  return nullptr;
}

// A cold boot (pods never come from the pool: its VMs have one container's disks).
Status LibvirtDriver::BootPod(Box& pod) {
  const SandboxSpec& s = pod.rec.spec;
  if (SandboxDisks(s).size() > kMaxVolumes + 2) {
    return Status::Invalid("a pod has at most " + std::to_string(kMaxVolumes + 2) +
                           " disks: one per image, one per member and one per volume");
  }
  ZUNVM_RETURN_IF_ERROR(ValidateVolumes(s));
  std::vector<agent::op::CreateContainer::Request> bodies;
  for (size_t i = 0; i < s.members.size(); ++i) {
    const SandboxSpec& m = s.members[i];
    if (m.image_disk.empty() || m.upper_disk.empty()) return Status::Invalid("member " + m.uuid + " has no root disk");
    if (m.argv.empty()) return Status::Invalid("member " + m.uuid + " has no command (its image gives none either)");
    auto body = CreateRequestFor(m, MemberDiskSerials(s, i), &s);
    if (!body) return body.error();
    bodies.push_back(std::move(*body));
  }
  uint64_t gen = NextBoot(pod);
  auto t0 = Clock::now();
  pod.booted_at = t0;
  auto deadline = t0 + opts_.boot_timeout;
  if (pod.socket().size() >= 108) return Status::Invalid("state_dir is too long for a unix socket path: " + pod.socket());
  VmUp up;
  ZUNVM_RETURN_IF_ERROR(BootVm(pod, gen, deadline, &up));
  std::shared_ptr<agent::AgentClient> a = up.agent;
  auto fail = [&](const Status& st) { return BootFailed(pod, st); };
  VmIsUp(pod, up);
  if (!s.nics.empty()) {
    if (Status st = ConfigureGuestNics(*a, s.nics, true, Left(deadline)); !st.ok()) return fail(st);
  }
  for (const auto& body : bodies) {
    auto created = a->Call<agent::op::CreateContainer>(body, Left(deadline));
    if (!created) return fail(Status(created.error().code(), "member " + body.id + ": " + created.error().message()));
  }
  std::lock_guard<std::mutex> lock(pod.mu);
  pod.rec.boot = {{"domain_started_s", up.defined_s}, {"agent_ready_s", up.ready_s},
                  {"containers_created_s", Since(t0)}, {"vcpus", VcpusFor(s.cpu)},
                  {"memory_mib", up.memory_mib}, {"members", s.members.size()}, {"guest_kernel", up.kernel}};
  for (auto& [uuid, mr] : pod.rec.members) mr = MemberRecord{};
  Logger("libvirt")->info("pod {}: VM up with {} containers in {:.2f} s", pod.uuid, s.members.size(), Since(t0));
  return Status::Ok();
}

Status LibvirtDriver::StartMember(Box& m) {
  std::lock_guard<std::mutex> op(m.op);
  auto pod = Find(m.pod);
  if (!pod) return Status::NotFound("No such sandbox: " + m.uuid);
  auto a = RunningAgent(*pod);
  if (!a) return a.error();
  RecordState state;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    state = m.rec.state;
    if (Live(state)) return Status::Conflict("Sandbox " + m.uuid + " is already " + RecordStateName(state));
    m.main_exit.reset();
    m.stopping = false;
  }
  if (state != RecordState::kCreated) {  // it exited: the agent removed it
    SandboxSpec ps, spec;
    {
      std::lock_guard<std::mutex> lock(pod->mu);
      ps = pod->rec.spec;
    }
    {
      std::lock_guard<std::mutex> lock(m.mu);
      spec = m.rec.spec;  // with any limits changed since
    }
    auto it = std::find_if(ps.members.begin(), ps.members.end(), [&](const SandboxSpec& s) { return s.uuid == m.uuid; });
    if (it == ps.members.end()) return Status::NotFound("No such sandbox: " + m.uuid);
    auto body = CreateRequestFor(spec, MemberDiskSerials(ps, static_cast<size_t>(it - ps.members.begin())), &ps);
    if (!body) return body.error();
    auto created = (*a)->Call<agent::op::CreateContainer>(*body, kCallTimeout);
    if (!created) return created.error();
  }
  auto r = (*a)->Call<agent::op::StartContainer>({m.uuid}, kCallTimeout);
  if (!r) return r.error();
  return Record(m, [](SandboxRecord& rec) {
    rec.state = RecordState::kRunning;
    rec.exit_code.reset();
  });
}

Result<int> LibvirtDriver::StopMember(Box& m, std::chrono::seconds timeout) {
  std::lock_guard<std::mutex> op(m.op);
  std::shared_ptr<agent::AgentClient> a;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    if (!Live(m.rec.state) || !m.vm_up || !m.agent) return m.rec.exit_code.value_or(0);
    m.stopping = true;
    a = m.agent;
  }
  if (m.rec.state == RecordState::kPaused) (void)Freeze(*a, m.uuid, false);
  auto exited = [&](Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(m.mu);
    while (!m.main_exit && a->Alive() && Clock::now() < deadline) m.cv.wait_for(lock, milliseconds(100));
    return m.main_exit.has_value() || !a->Alive();
  };
  (void)a->Call<agent::op::Signal>({m.uuid, SIGTERM}, kCallTimeout);
  if (!exited(Clock::now() + timeout)) {
    (void)a->Call<agent::op::Signal>({m.uuid, SIGKILL}, kCallTimeout);
    exited(Clock::now() + seconds(10));
  }
  int code;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    code = m.main_exit.value_or(128 + SIGKILL);
    m.stopping = false;
  }
  ZUNVM_RETURN_IF_ERROR(Record(m, [&](SandboxRecord& r) {
    r.state = RecordState::kStopped;
    r.exit_code = code;
  }));
  return code;
}

// A member's process exited on its own or through Kill: its VM runs on.
void LibvirtDriver::HandleMemberExit(const std::shared_ptr<Box>& m) {
  int code;
  {
    std::lock_guard<std::mutex> op(m->op);
    {
      std::lock_guard<std::mutex> lock(m->mu);
      if (m->stopping || !m->main_exit || !Live(m->rec.state)) return;
      code = *m->main_exit;
    }
    Status st = Record(*m, [&](SandboxRecord& r) {
      r.state = RecordState::kStopped;
      r.exit_code = code;
    });
    if (!st.ok()) Logger("libvirt")->warn("sandbox {}: {}", m->uuid, st.ToString());
  }
  Logger("libvirt")->info("pod {}: member {} exited with {}", m->pod, m->uuid, code);
  if (events_) events_->OnExit(m->uuid, code);
}

}  // namespace zunvm::libvirt
