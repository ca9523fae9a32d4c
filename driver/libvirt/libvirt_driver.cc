#include "driver/libvirt/libvirt_driver.h"

#include "driver/libvirt/driver_internal.h"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <limits>
#include <type_traits>

#include "agent/client/agent_client.h"
#include "common/base64.h"
#include "common/ids.h"
#include "common/ipv4.h"
#include "common/logging.h"
#include "common/strings.h"
#include "common/timefmt.h"
#include "driver/libvirt/domain_xml.h"
#include "driver/libvirt/sandbox_record.h"

namespace zunvm::libvirt {

namespace fs = std::filesystem;

// The guest kernel keeps its CPU vulnerability mitigations: it is the wall between the
// container and the agent (docs/security.md has the measured cost; [guest]
// kernel_cmdline_extra can trade them away).
const char kDefaultGuestCmdline[] =
    "console=ttyS0 quiet cryptomgr.notests tsc=reliable no_timer_check "
    "i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd 8250.nr_uarts=1 audit=0 "
    "rcupdate.rcu_expedited=1 random.trust_cpu=on";



LibvirtDriver::LibvirtDriver(LibvirtDriverOptions opts, std::unique_ptr<Hypervisor> hv,
                             std::unique_ptr<HostNetwork> net)
    : opts_(std::move(opts)), hv_(std::move(hv)), net_(std::move(net)) {
  if (opts_.runtimes.empty()) {
    opts_.runtimes[opts_.default_runtime] =
        GuestProfile{opts_.kernel, opts_.initrd, opts_.cmdline, "q35", opts_.virt_type, {}};
  }
  worker_ = std::thread([this] { WorkerLoop(); });
}

LibvirtDriver::~LibvirtDriver() {
  collector_.Reset();
  pool_.reset();  // its refill thread stops; unclaimed VMs are destroyed
  {
    std::lock_guard<std::mutex> lock(work_mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  // Agents go first: their reader threads call into the boxes and the event sink. The VMs keep
  // running; the next zunvmd adopts them.
  std::map<std::string, std::shared_ptr<Box>> boxes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    boxes.swap(boxes_);
  }
  for (auto& [uuid, b] : boxes) {
    std::shared_ptr<agent::AgentClient> a;
    {
      std::lock_guard<std::mutex> lock(b->mu);
      a = std::move(b->agent);
      b->gen++;
    }
    if (a) a->Ack();
  }
  hv_.reset();
}

std::string LibvirtDriver::SandboxDir(const std::string& uuid) const {
  return opts_.state_dir + "/sandboxes/" + uuid;
}

void LibvirtDriver::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(work_mu_);
    work_.push_back(std::move(fn));
  }
  work_cv_.notify_one();
}

void LibvirtDriver::WorkerLoop() {
  std::unique_lock<std::mutex> lock(work_mu_);
  for (;;) {
    work_cv_.wait_for(lock, milliseconds(200), [&] { return stopping_ || !work_.empty(); });
    if (stopping_) return;
    if (!work_.empty()) {
      auto fn = std::move(work_.front());
      work_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
      continue;
    }
    lock.unlock();
    // Tick: acknowledge delivered events (a restart then replays little) and notice agents
    // whose channel died without a libvirt event.
    for (auto& b : Boxes()) {
      std::shared_ptr<agent::AgentClient> a;
      {
        std::lock_guard<std::mutex> l(b->mu);
        if (!b->vm_up || !b->agent) continue;
        a = b->agent;
      }
      if (!a->Alive()) {
        CheckLost(b, "the guest agent's channel closed");
        continue;
      }
      uint64_t seq = a->LastSeq();
      if (seq != b->acked) {
        a->Ack();
        b->acked = seq;
      }
    }
    lock.lock();
  }
}

std::shared_ptr<LibvirtDriver::Box> LibvirtDriver::Find(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = boxes_.find(uuid);
  return it == boxes_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<LibvirtDriver::Box>> LibvirtDriver::Boxes() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Box>> out;
  for (auto& [uuid, b] : boxes_) out.push_back(b);
  return out;
}

Result<std::shared_ptr<LibvirtDriver::Box>> LibvirtDriver::FindOrNotFound(const std::string& uuid) {
  auto b = Find(uuid);
  if (!b) return Err(Status::NotFound("No such sandbox: " + uuid));
  return b;
}

Status LibvirtDriver::Record(Box& b, const std::function<void(SandboxRecord&)>& change) {
  SandboxRecord copy;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    change(b.rec);
    copy = b.rec;
  }
  if (b.pod.empty()) return SaveRecord(b.record(), copy);
  // A pod member's state is kept in its pod's record.
  auto pod = Find(b.pod);
  if (!pod) return Status::NotFound("No such sandbox: " + b.pod);
  SandboxRecord pod_copy;
  {
    std::lock_guard<std::mutex> lock(pod->mu);
    pod->rec.members[b.uuid] = MemberRecord{copy.state, copy.exit_code};
    for (auto& m : pod->rec.spec.members) {
      if (m.uuid == b.uuid) m = copy.spec;  // e.g. new limits
    }
    pod_copy = pod->rec;
  }
  return SaveRecord(pod->record(), pod_copy);
}

// ---- Life cycle -------------------------------------------------------------------------------

Result<SandboxInfo> LibvirtDriver::Create(const SandboxSpec& spec) {
  if (!IsUuidLike(spec.uuid)) return Err(Status::Invalid("bad sandbox uuid " + spec.uuid));
  auto b = std::make_shared<Box>();
  b->uuid = spec.uuid;
  b->dir = SandboxDir(spec.uuid);
  b->rec.spec = spec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = boxes_.find(spec.uuid);
    if (it != boxes_.end()) {
      if (!it->second->lost) return Err(Status::Conflict("Sandbox " + spec.uuid + " already exists"));
      b = it->second;  // a lost sandbox is made again in place
      std::lock_guard<std::mutex> l(b->mu);
      b->rec.spec = spec;
    }
    boxes_[spec.uuid] = b;
  }
  if (!spec.members.empty()) {
    if (Status st = MakeMembers(b); !st.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      boxes_.erase(spec.uuid);
      return Err(st);
    }
  }
  std::lock_guard<std::mutex> op(b->op);
  std::error_code ec;
  // qemu creates the agent socket here.
  if (Status st = MakeQemuReachableDir(b->dir); !st.ok()) return Err(st);
  Status st = Record(*b, [](SandboxRecord& r) {
    r.state = RecordState::kCreating;
    r.exit_code.reset();
  });
  if (st.ok()) st = Boot(*b);
  if (st.ok()) st = Record(*b, [](SandboxRecord& r) { r.state = RecordState::kCreated; });
  if (!st.ok()) {
    Teardown(*b, false);
    fs::remove_all(b->dir, ec);
    DropMembers(*b);
    std::lock_guard<std::mutex> lock(mu_);
    boxes_.erase(spec.uuid);
    return Err(st);
  }
  AttachMembers(*b);
  std::lock_guard<std::mutex> lock(b->mu);
  return SandboxInfo{spec.uuid, b->name(), SandboxState::kCreated, std::nullopt, spec.hostname,
                     b->rec.boot.is_object() ? b->rec.boot.value("guest_kernel", "") : ""};
}

Status LibvirtDriver::Start(const std::string& uuid) {
  auto b = FindOrNotFound(uuid);
  if (!b) return b.error();
  Box& box = **b;
  if (!box.pod.empty()) return StartMember(box);
  if (!box.members.empty()) return Status::Conflict("Sandbox " + uuid + " is a pod: start its members");
  std::lock_guard<std::mutex> op(box.op);
  bool up;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    up = box.vm_up;
  }
  if (up && box.rec.state != RecordState::kCreated) {
    return Status::Conflict("Sandbox " + uuid + " is already " + RecordStateName(box.rec.state));
  }
  if (!up) {
    Status st = Boot(box);
    if (!st.ok()) return st;
  }
  std::shared_ptr<agent::AgentClient> a;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    a = box.agent;
  }
  auto r = a->Call<agent::op::StartContainer>({uuid}, kCallTimeout);
  if (!r) {
    Teardown(box, false);
    (void)Record(box, [](SandboxRecord& rec) { rec.state = RecordState::kStopped; });
    return r.error();
  }
  // The boot's steps end with the container's start (seconds since the boot began).
  double started_s = std::chrono::duration<double>(Clock::now() - box.booted_at).count();
  return Record(box, [&](SandboxRecord& rec) {
    rec.state = RecordState::kRunning;
    rec.exit_code.reset();
    if (box.booted_at != Clock::time_point{} && rec.boot.is_object() && !rec.boot.contains("container_started_s")) {
      rec.boot["container_started_s"] = started_s;
    }
  });
}

Result<int> LibvirtDriver::Stop(const std::string& uuid, seconds timeout) {
  auto b = FindOrNotFound(uuid);
  if (!b) return Err(b.error());
  Box& box = **b;
  if (!box.pod.empty()) return StopMember(box, timeout);
  std::lock_guard<std::mutex> op(box.op);
  std::shared_ptr<agent::AgentClient> a;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    if (!box.vm_up) return box.rec.exit_code.value_or(0);
    box.stopping = true;
    a = box.agent;
  }
  if (box.rec.state == RecordState::kPaused) (void)Freeze(*a, uuid, false);
  if (box.rec.state != RecordState::kCreated) {
    auto exited = [&](Clock::time_point deadline) {
      std::unique_lock<std::mutex> lock(box.mu);
      while (!box.main_exit && a->Alive() && Clock::now() < deadline) {
        box.cv.wait_for(lock, milliseconds(100));
      }
      return box.main_exit.has_value() || !a->Alive();
    };
    (void)a->Call<agent::op::Signal>({uuid, SIGTERM}, kCallTimeout);
    if (!exited(Clock::now() + timeout)) {
      (void)a->Call<agent::op::Signal>({uuid, SIGKILL}, kCallTimeout);
      exited(Clock::now() + seconds(10));
    }
  }
  int code;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    code = box.main_exit.value_or(box.rec.state == RecordState::kCreated ? 0 : 128 + SIGKILL);
  }
  Teardown(box, /*graceful=*/true);
  {
    std::lock_guard<std::mutex> lock(box.mu);
    box.stopping = false;
  }
  ZUNVM_RETURN_IF_ERROR(Record(box, [&](SandboxRecord& r) {
    r.state = RecordState::kStopped;
    r.exit_code = code;
  }));
  return code;
}

Result<std::shared_ptr<agent::AgentClient>> LibvirtDriver::RunningAgent(Box& b) {
  std::lock_guard<std::mutex> lock(b.mu);
  if (!b.vm_up || !b.agent) {
    return Err(Status::Conflict("Sandbox " + b.uuid + " is not running"));
  }
  return b.agent;
}

Status LibvirtDriver::Kill(const std::string& uuid, int signal) {
  auto b = FindOrNotFound(uuid);
  if (!b) return b.error();
  Box& box = **b;
  std::lock_guard<std::mutex> op(box.op);
  auto a = RunningAgent(box);
  if (!a) return a.error();
  if (box.rec.state == RecordState::kPaused) {
    ZUNVM_RETURN_IF_ERROR(Freeze(**a, uuid, false));
    (void)Record(box, [](SandboxRecord& r) { r.state = RecordState::kRunning; });
  }
  auto r = (*a)->Call<agent::op::Signal>({uuid, signal}, kCallTimeout);
  return r ? Status::Ok() : r.error();
}

Status LibvirtDriver::Freeze(agent::AgentClient& a, const std::string& uuid, bool frozen) {
  auto r = a.Call<agent::op::Freeze>({uuid, frozen}, kCallTimeout);
  return r ? Status::Ok() : r.error();
}

// Pause freezes the container's cgroup inside its guest (as Kata does), not the VM: the agent
// keeps answering, so files can be copied and a commit taken while the container is paused.
Status LibvirtDriver::Pause(const std::string& uuid) {
  auto b = FindOrNotFound(uuid);
  if (!b) return b.error();
  Box& box = **b;
  std::lock_guard<std::mutex> op(box.op);
  auto a = RunningAgent(box);
  if (!a) return a.error();
  if (box.rec.state != RecordState::kRunning) return Status::Conflict("Sandbox " + uuid + " is not running");
  ZUNVM_RETURN_IF_ERROR(Freeze(**a, uuid, true));
  return Record(box, [](SandboxRecord& r) { r.state = RecordState::kPaused; });
}

Status LibvirtDriver::Unpause(const std::string& uuid) {
  auto b = FindOrNotFound(uuid);
  if (!b) return b.error();
  Box& box = **b;
  std::lock_guard<std::mutex> op(box.op);
  if (box.rec.state != RecordState::kPaused) return Status::Conflict("Sandbox " + uuid + " is not paused");
  auto a = RunningAgent(box);
  if (!a) return a.error();
  ZUNVM_RETURN_IF_ERROR(Freeze(**a, uuid, false));
  return Record(box, [](SandboxRecord& r) { r.state = RecordState::kRunning; });
}

Status LibvirtDriver::Delete(const std::string& uuid, bool force) {
  auto b = Find(uuid);
  if (!b) return Status::Ok();
  if (!b->pod.empty()) {
    if (Find(b->pod)) return Status::Conflict("Sandbox " + uuid + " is a member of pod " + b->pod + ": delete the pod");
    return Status::Ok();
  }
  {
    std::lock_guard<std::mutex> op(b->op);
    bool writable = false;
    {
      std::lock_guard<std::mutex> lock(b->mu);
      bool live = b->vm_up && (b->rec.state == RecordState::kRunning || b->rec.state == RecordState::kPaused);
      if (live && !force) return Status::Conflict("Sandbox " + uuid + " is running; stop it or force the delete");
      b->stopping = true;
      for (const auto& v : b->rec.spec.volumes) writable = writable || !v.read_only;
    }
    // A volume outlives the sandbox: its VM syncs and powers off first (at most a few
    // seconds), so what the guest had not written back yet is not lost with a forced delete.
    Teardown(*b, /*graceful=*/writable);
    std::error_code ec;
    fs::remove_all(b->dir, ec);
    if (ec) return Status::Internal("cannot remove " + b->dir + ": " + ec.message());
  }
  DropMembers(*b);
  std::lock_guard<std::mutex> lock(mu_);
  boxes_.erase(uuid);
  return Status::Ok();
}

Result<SandboxInfo> LibvirtDriver::Inspect(const std::string& uuid) {
  auto b = FindOrNotFound(uuid);
  if (!b) return Err(b.error());
  Box& box = **b;
  std::lock_guard<std::mutex> lock(box.mu);
  if (box.lost) return Err(Status::NotFound("The sandbox VM of " + uuid + " is gone: " + box.lost_reason));
  SandboxInfo info{uuid, box.name(), ToSandboxState(box.rec.state), box.rec.exit_code, box.rec.spec.hostname,
                   box.rec.boot.is_object() ? box.rec.boot.value("guest_kernel", "") : ""};
  if (box.rec.state == RecordState::kCreating) info.state = SandboxState::kCreated;
  return info;
}

Result<std::vector<SandboxInfo>> LibvirtDriver::List() {
  std::vector<SandboxInfo> out;
  for (auto& b : Boxes()) {
    std::lock_guard<std::mutex> lock(b->mu);
    out.push_back(SandboxInfo{b->uuid, b->name(), ToSandboxState(b->rec.state), b->rec.exit_code,
                              b->rec.spec.hostname});
  }
  return out;
}

}  // namespace zunvm::libvirt
