// LibvirtDriver: start-up: this state dir's instance id, and the adoption of the VMs that
// still run.
#include "driver/libvirt/driver_internal.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "common/durable_file.h"
#include "common/ids.h"
#include "common/logging.h"
#include "common/metrics.h"

namespace zunvm::libvirt {

namespace fs = std::filesystem;

// ---- Start-up ---------------------------------------------------------------------------------

// The id that marks this state dir's domains: made once, kept in <state_dir>/instance-id.
Status LibvirtDriver::LoadInstanceId() {
  std::string path = opts_.state_dir + "/instance-id";
  std::ifstream in(path);
  std::string id;
  if (in && std::getline(in, id) && IsUuidLike(id)) {
    instance_ = id;
    return Status::Ok();
  }
  id = NewUuid();
  ZUNVM_RETURN_IF_ERROR(WriteFileDurably(path, id + "\n", 0644));
  instance_ = id;
  return Status::Ok();
}

Status LibvirtDriver::Adopt(const std::shared_ptr<Box>& b, const DomainInfo* dom) {
  RecordState rs = b->rec.state;
  bool want_vm = rs == RecordState::kCreated || rs == RecordState::kRunning || rs == RecordState::kPaused;
  if (!dom || !want_vm) {
    if (dom) (void)hv_->Destroy(dom->name);
    if (want_vm || rs == RecordState::kCreating) {
      b->lost = true;
      b->lost_reason = dom ? "zunvmd restarted while the sandbox was being created"
                           : "its VM was gone when zunvmd started";
    }
    return Status::Ok();
  }
  uint64_t gen = ++b->gen;
  std::weak_ptr<Box> weak = b;
  // The VM keeps the channel's unacknowledged events; hello replays them to the new client.
  static auto& reconnects = metrics::Global().Counter(
      "zunvm_agent_reconnects_total", "Connections to a running sandbox's agent made again after a zunvmd restart",
      {"outcome"});
  auto client = agent::AgentClient::Connect(
      b->socket(), seconds(5), [this, weak, gen](agent::Message& m) { OnAgentEvent(weak, gen, m); });
  auto hello = client ? (*client)->Call<agent::op::Hello>({agent::kProtocolVersion, std::nullopt}, seconds(10))
                      : Result<agent::op::Hello::Response>(Err(client.error()));
  reconnects.Inc({hello ? "ok" : "error"});
  if (!hello) {
    (void)hv_->Destroy(dom->name);
    b->lost = true;
    b->lost_reason = "its agent did not answer when zunvmd started: " + hello.error().message();
    return Status::Ok();
  }
  std::lock_guard<std::mutex> lock(b->mu);
  b->agent = std::shared_ptr<agent::AgentClient>(std::move(*client));
  b->vm_up = true;
  b->vm_cpu = b->rec.spec.cpu;
  int64_t booted = Field<int64_t>(b->rec.boot, "memory_mib");
  b->vm_mem_mib = booted > 0 ? booted : b->rec.spec.memory_mib + opts_.memory_overhead_mib;
  // A paused container stays frozen in its running guest: the record keeps saying so.
  Logger("libvirt")->info("adopted running sandbox {} ({})", b->uuid, RecordStateName(b->rec.state));
  return Status::Ok();
}

// After a reconnect: a delete, stop or failed create while libvirtd was away could not destroy
// its VM (Teardown logs that and goes on), so our domains are checked against the boxes. A
// domain whose sandbox is gone, or whose box is idle without a VM of its own, is destroyed (the
// check and the destroy under the box's op); a box in an operation owns its VM. (A create of
// a deleted sandbox's uuid cannot start its domain while the stale one holds the name.) Not
// before Init adopted every sandbox: until then a VM without a box may be one to adopt.
void LibvirtDriver::DestroyStrayDomains() {
  if (!adopted_) return;
  auto doms = hv_->ListOurs();
  if (!doms) return;  // away again: the next reconnect comes back here
  for (const auto& d : *doms) {
    // Other zunvmds' are theirs; unclaimed pool members are the pool's.
    if (d.instance != instance_ || d.container_uuid.empty()) continue;
    std::shared_ptr<Box> b = Find(d.container_uuid);
    std::unique_lock<std::mutex> op;
    if (b) {
      op = std::unique_lock<std::mutex>(b->op, std::try_to_lock);
      if (!op.owns_lock()) continue;
      std::lock_guard<std::mutex> lock(b->mu);
      if (b->vm_up && b->name() == d.name) continue;
    }
    Logger("libvirt")->info("destroying domain {}: its sandbox no longer wants it (libvirtd was away)", d.name);
    Status st = hv_->Destroy(d.name);
    if (!st.ok() && st.code() != Code::kNotFound) Logger("libvirt")->warn("{}", st.ToString());
  }
}

Status LibvirtDriver::Init() {
  hv_->SetEventHandler([this](const DomainEvent& ev) {
    std::shared_ptr<Box> b;
    if (ev.name.rfind(kPoolDomainPrefix, 0) == 0) {
      for (auto& box : Boxes()) {
        if (box->name() == ev.name) b = box;
      }
    } else {
      b = Find(ev.name.substr(std::string(kDomainPrefix).size()));
    }
    if (b && ev.stopped) Post([this, b, reason = ev.reason] { CheckLost(b, reason); });
  });
  hv_->SetReconnectHandler([this] {
    Post([this] {
      for (auto& b : Boxes()) CheckLost(b, "its VM vanished while libvirtd was away");
      DestroyStrayDomains();
    });
  });
  ZUNVM_RETURN_IF_ERROR(hv_->Open());
  std::string root = opts_.state_dir + "/sandboxes";
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Status::Internal("cannot create " + root + ": " + ec.message());
  ::chmod(root.c_str(), 0711);
  ZUNVM_RETURN_IF_ERROR(LoadInstanceId());
  auto doms = hv_->ListOurs();
  if (!doms) return doms.error();
  std::map<std::string, DomainInfo> by_uuid;
  for (const auto& d : *doms) {
    // Other zunvmds' are theirs; unclaimed pool VMs go with the pool's Start below.
    if (d.instance == instance_ && !d.container_uuid.empty()) by_uuid[d.container_uuid] = d;
  }
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    std::string uuid = entry.path().filename().string();
    if (!IsUuidLike(uuid) || !entry.is_directory()) continue;
    auto b = std::make_shared<Box>();
    b->uuid = uuid;
    b->dir = entry.path().string();
    auto rec = LoadRecord(b->record());
    if (rec) {
      b->rec = *rec;
      b->set_name(rec->domain);
    } else {
      b->rec.spec.uuid = uuid;  // killed before its record was written: lost, to be deleted
      b->rec.state = RecordState::kCreating;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      boxes_[uuid] = b;
    }
    // A pod's members exist before its agent replays their events.
    if (!b->rec.spec.members.empty() && !MakeMembers(b).ok()) b->rec.spec.members.clear();
    auto it = by_uuid.find(uuid);
    (void)Adopt(b, it == by_uuid.end() ? nullptr : &it->second);
    if (it != by_uuid.end()) by_uuid.erase(it);
    if (b->vm_up) {
      AttachMembers(*b);
    } else {
      for (const auto& m : b->members) {
        if (auto mb = Find(m)) {
          mb->lost = true;
          mb->lost_reason = "its pod's VM was gone when zunvmd started";
        }
      }
    }
  }
  for (const auto& [uuid, d] : by_uuid) {
    Logger("libvirt")->info("destroying domain {}: it has no sandbox", d.name);
    (void)hv_->Destroy(d.name);
  }
  adopted_ = true;
  PoolOptions po;
  auto def = opts_.runtimes.find(opts_.default_runtime);
  if (def == opts_.runtimes.end()) return Status::Invalid("the default runtime " + opts_.default_runtime + " is not a VM runtime of this host");
  // Passed-through devices belong to one VM each: such a default runtime has no pool.
  po.size = def->second.hostdevs.empty() ? opts_.pool_size : 0;
  po.use_templates = opts_.pool_use_templates;
  po.template_dir = opts_.pool_template_dir;
  po.member_dir = opts_.state_dir + "/pool";
  po.boot_timeout = opts_.boot_timeout;
  po.shape = ShapeConfig(def->second, opts_.pool_cpu,
                         opts_.pool_memory_mib + opts_.memory_overhead_mib);
  // A member gets its warm-up disks (2, they stay), the container's disks (2) and NICs by
  // hot-plug: root ports for them besides the spare ones.
  po.shape.hotplug_ports = opts_.hotplug_ports + 4 + static_cast<int>(kPoolNics + kPoolVolumes);
  std::vector<DomainInfo> ours;
  for (const auto& d : *doms) {
    if (d.instance == instance_) ours.push_back(d);
  }
  pool_ = std::make_unique<SandboxPool>(std::move(po), *hv_);
  pool_->Start(ours);
  collector_ = metrics::Global().AddCollector([this](metrics::GaugeWriter& w) { CollectMetrics(w); });
  return Status::Ok();
}

}  // namespace zunvm::libvirt
