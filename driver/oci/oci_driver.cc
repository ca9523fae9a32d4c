// OciDriver's life cycle: create, start, stop, kill, pause, delete, inspect and recovery.
#include "driver/oci/oci_driver.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/ids.h"
#include "common/logging.h"
#include "common/root_files.h"
#include "driver/oci/oci_driver_internal.h"
#include "driver/oci/rootfs.h"

namespace zunvm::oci {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

OciDriver::OciDriver(OciDriverOptions opts, std::unique_ptr<HostNetwork> net)
    : opts_(std::move(opts)), net_(std::move(net)) {
  for (auto& [name, rt] : opts_.runtimes) rt.root = opts_.state_dir + "/oci-runtime/" + name;
  collector_ = metrics::Global().AddCollector([this](metrics::GaugeWriter& w) { CollectMetrics(w); });
}

OciDriver::~OciDriver() {
  collector_.Reset();
  std::vector<std::shared_ptr<Box>> boxes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [uuid, b] : boxes_) boxes.push_back(b);
  }
  // The containers run on under conmon; only the watchers stop (a new zunvmd adopts the runs).
  for (auto& b : boxes) {
    {
      std::lock_guard<std::mutex> lock(b->mu);
      b->shutdown = true;
    }
    b->cv.notify_all();
    JoinWatcher(*b);
  }
}

std::vector<std::string> OciDriver::Runtimes() const {
  std::vector<std::string> out;
  for (const auto& [name, rt] : opts_.runtimes) out.push_back(name);
  return out;
}

std::string OciDriver::SandboxDir(const std::string& uuid) const { return opts_.state_dir + "/oci/" + uuid; }

Result<std::shared_ptr<OciDriver::Box>> OciDriver::Find(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = boxes_.find(uuid);
  if (it == boxes_.end()) return Err(Status::NotFound("No sandbox " + uuid));
  return it->second;
}

Result<const OciRuntime*> OciDriver::RuntimeOf(const OciRecord& rec) const {
  auto it = opts_.runtimes.find(rec.spec.runtime);
  if (it == opts_.runtimes.end()) {
    return Err(Status::Invalid("Runtime " + rec.spec.runtime + " is not an OCI runtime of this host"));
  }
  return &it->second;
}

Status OciDriver::Save(Box& b) { return SaveOciRecord(b.dir + "/sandbox.json", b.rec); }

Status OciDriver::Locked(const std::string& uuid,
                         const std::function<Status(const std::shared_ptr<Box>&, const OciRuntime&)>& fn) {
  auto bp = Find(uuid);
  if (!bp) return bp.error();
  std::lock_guard<std::mutex> op((*bp)->op);
  auto rt = RuntimeOf((*bp)->rec);
  if (!rt) return rt.error();
  return fn(*bp, **rt);
}

Result<std::pair<std::shared_ptr<OciDriver::Box>, const OciRuntime*>> OciDriver::Running(const std::string& uuid,
                                                                                         bool allow_paused) {
  auto bp = Find(uuid);
  if (!bp) return Err(bp.error());
  auto rt = RuntimeOf((*bp)->rec);
  if (!rt) return Err(rt.error());
  ZUNVM_RETURN_IF_ERROR(RequireRunning(**bp, allow_paused));
  return std::pair{*bp, *rt};
}

// ---- create ------------------------------------------------------------------------------------

namespace {

Status CheckSpec(const SandboxSpec& s) {
  const std::string rt = "runtime " + s.runtime;
  if (!s.members.empty()) return Status::Invalid("Capsules run in VMs; " + rt + " runs host processes");
  if (s.image_disk.empty() || s.upper_disk.empty()) return Status::Invalid("A container of " + rt + " needs an image");
  return Status::Ok();
}

}  // namespace

Result<SandboxInfo> OciDriver::Create(const SandboxSpec& spec) {
  if (!opts_.runtimes.count(spec.runtime)) {
    return Err(Status::Invalid("Runtime " + spec.runtime + " is not an OCI runtime of this host"));
  }
  ZUNVM_RETURN_IF_ERROR(CheckSpec(spec));
  auto b = std::make_shared<Box>();
  b->uuid = spec.uuid;
  b->dir = SandboxDir(spec.uuid);
  b->rec.spec = spec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (boxes_.count(spec.uuid)) return Err(Status::Conflict("Sandbox " + spec.uuid + " exists"));
    boxes_[spec.uuid] = b;
  }
  std::lock_guard<std::mutex> op(b->op);
  auto fail = [&](const Status& st) -> Result<SandboxInfo> {
    (void)Destroy(*b);
    std::lock_guard<std::mutex> lock(mu_);
    boxes_.erase(spec.uuid);
    return Err(st);
  };
  if (::mkdir(b->dir.c_str(), 0711) != 0 && errno != EEXIST) {
    return fail(Status::Internal("cannot make " + b->dir + ": " + std::strerror(errno)));
  }
  Status st = Save(*b);  // kCreating: a crash from here on leaves it to Init to remove
  if (st.ok()) st = MountRootfs(b->dir, spec.image_disk, spec.upper_disk);
  if (st.ok()) st = MountVolumes(b->dir, spec);
  if (st.ok()) st = WriteFiles(b->dir, spec);
  if (st.ok()) st = PlugNics(spec);
  if (st.ok()) st = WriteBundle(*b);
  if (!st.ok()) return fail(st);
  b->rec.state = OciState::kCreated;
  st = Save(*b);
  if (!st.ok()) return fail(st);
  return InfoOf(*b);
}

Status OciDriver::PlugNic(const std::string& uuid, const SandboxNic& nic, size_t index) {
  if (nic.prefix_len < 1 || nic.prefix_len > 32 || !ParseIpv4(nic.address)) {
    return Status::Invalid("NIC " + nic.port_id + " has a bad address or prefix");
  }
  ContainerNicPlug p;
  p.container_netns = ContainerNetnsName(uuid);
  p.ifname = "eth" + std::to_string(index);
  p.mac = nic.mac;
  p.cidr = nic.address + "/" + std::to_string(nic.prefix_len);
  if (index == 0) p.gateway = nic.gateway;
  p.mtu = nic.mtu;
  if (!nic.ovs_bridge.empty()) {  // a Neutron port: Open vSwitch, as Nova plugs a VM's
    p.host_if = OvsTapName(nic.port_id);
    p.ovs_bridge = nic.ovs_bridge;
    p.port_id = nic.port_id;
    return net_->PlugContainerNic(p);
  }
  auto gw = ParseIpv4(nic.gateway);
  if (!gw || nic.prefix_len > 30) return Status::Invalid("NIC " + nic.port_id + " has a bad gateway or prefix");
  ZUNVM_RETURN_IF_ERROR(net_->EnsureNetwork(nic.netns, nic.gateway + "/" + std::to_string(nic.prefix_len)));
  if (opts_.nat) {
    Ipv4Subnet subnet{*gw & Ipv4Subnet{0, nic.prefix_len}.Mask(), nic.prefix_len};
    ZUNVM_RETURN_IF_ERROR(net_->EnableNat(nic.netns, subnet.ToString()));
  }
  p.network_netns = nic.netns;
  p.host_if = TapName(nic.port_id);
  return net_->PlugContainerNic(p);
}

Status OciDriver::UnplugNic(const SandboxNic& nic) {
  if (!nic.ovs_bridge.empty()) return net_->RemoveOvsPort(nic.ovs_bridge, OvsTapName(nic.port_id));
  return net_->DeleteLink(TapName(nic.port_id), nic.netns);  // its peer goes with it
}

Status OciDriver::PlugNics(const SandboxSpec& spec) {
  for (size_t i = 0; i < spec.nics.size(); ++i) ZUNVM_RETURN_IF_ERROR(PlugNic(spec.uuid, spec.nics[i], i));
  return Status::Ok();
}

Status OciDriver::WriteBundle(Box& b) {
  OciSpecOptions o;
  o.root_path = b.dir + "/rootfs";
  o.cgroups_path = CgroupsPath(b.uuid);
  for (const auto& v : b.rec.spec.volumes) o.volume_sources.push_back(VolumeDir(b.dir, v));
  if (!b.rec.spec.nics.empty() || fs::exists(NetnsPath(b.uuid))) o.netns_path = NetnsPath(b.uuid);
  o.nofile = NofileLimit();
  auto spec = BuildOciSpec(b.rec.spec, o);
  if (!spec) return spec.error();
  for (const char* f : {"hostname", "hosts", "resolv.conf"}) {
    if (std::string(f) == "resolv.conf" && b.rec.spec.resolv_conf.empty()) continue;
    (*spec)["mounts"].push_back({{"destination", std::string("/etc/") + f},
                                 {"type", "bind"},
                                 {"source", b.dir + "/etc/" + f},
                                 {"options", {"rbind", "rprivate", "nosuid", "noexec", "nodev"}}});
  }
  return WriteFileDurably(b.dir + "/config.json", spec->dump(2), 0644);
}

// ---- start, stop, signals ----------------------------------------------------------------------

Status OciDriver::Start(const std::string& uuid) {
  return Locked(uuid, [&](const std::shared_ptr<Box>& bp, const OciRuntime& rt) { return StartRun(bp, rt); });
}

Status OciDriver::StartRun(const std::shared_ptr<Box>& bp, const OciRuntime& rt) {
  Box& b = *bp;
  const std::string& uuid = b.uuid;
  SandboxInfo now = InfoOf(b);
  if (now.state == SandboxState::kRunning || now.state == SandboxState::kPaused) {
    return Status::Conflict("Container " + uuid + " is already running");
  }
  JoinWatcher(b);  // the last run's, done once its exit was seen
  const MonitorPaths p{b.dir};
  ZUNVM_RETURN_IF_ERROR(DeleteContainer(rt, uuid, p));
  ZUNVM_RETURN_IF_ERROR(MountRootfs(b.dir, b.rec.spec.image_disk, b.rec.spec.upper_disk));
  ZUNVM_RETURN_IF_ERROR(MountVolumes(b.dir, b.rec.spec));
  ZUNVM_RETURN_IF_ERROR(PlugNics(b.rec.spec));  // again: a host reboot drops the namespace
  ZUNVM_RETURN_IF_ERROR(WriteBundle(b));
  std::error_code ec;
  fs::remove(p.Log(), ec);
  OciRecord before = b.rec;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    b.rec.state = OciState::kRunning;
    b.rec.run = "oci-" + RandomHex(8);
    b.rec.exit_code.reset();
    b.rec.exit_reported = false;
    b.quiet = false;
    ZUNVM_RETURN_IF_ERROR(Save(b));
  }
  auto pid = CreateContainer(rt, uuid, p, ContainerStdio{b.rec.spec.tty, b.rec.spec.interactive});
  Status st = pid ? StartContainer(rt, uuid) : pid.error();
  if (!st.ok()) {
    (void)DeleteContainer(rt, uuid, p);
    std::lock_guard<std::mutex> lock(b.mu);
    b.rec = before;
    (void)Save(b);
    return st;
  }
  StartWatcher(bp);
  return Status::Ok();
}

// The code the last run ended with, or 0 for a container never started.
Result<int> OciDriver::Stop(const std::string& uuid, seconds timeout) {
  int code = 0;
  Status st = Locked(uuid, [&](const std::shared_ptr<Box>& bp, const OciRuntime& rt) {
    auto r = StopRun(*bp, rt, timeout);
    if (r) code = *r;
    return r ? Status::Ok() : r.error();
  });
  if (!st.ok()) return Err(st);
  return code;
}

Result<int> OciDriver::StopRun(Box& b, const OciRuntime& rt, seconds timeout) {
  const std::string& uuid = b.uuid;
  SandboxInfo now = InfoOf(b);
  if (now.state == SandboxState::kCreated || now.state == SandboxState::kStopped) {
    JoinWatcher(b);
    return now.exit_code.value_or(0);
  }
  Quiesce(b);
  const MonitorPaths p{b.dir};
  if (now.state == SandboxState::kPaused) (void)ResumeContainer(rt, uuid);
  auto exited = [&](std::chrono::steady_clock::duration within) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (!ExitCodeOf(p, uuid)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return true;
  };
  (void)KillContainer(rt, uuid, SIGTERM);
  if (!exited(timeout)) {
    (void)KillContainer(rt, uuid, SIGKILL);
    if (!exited(seconds(30))) return Err(Status::Internal("Container " + uuid + " did not die after SIGKILL"));
  }
  JoinWatcher(b);
  int code = ExitCodeOf(p, uuid).value_or(137);
  std::lock_guard<std::mutex> lock(b.mu);
  b.rec.state = OciState::kStopped;
  b.rec.exit_code = code;
  b.rec.exit_reported = true;
  ZUNVM_RETURN_IF_ERROR(Save(b));
  return code;
}

Status OciDriver::RequireRunning(Box& b, bool allow_paused) {
  SandboxState s = InfoOf(b).state;
  if (s == SandboxState::kRunning || (allow_paused && s == SandboxState::kPaused)) return Status::Ok();
  return Status::Conflict("Container " + b.uuid + " is " + SandboxStateName(s) + ", not running");
}

Status OciDriver::Kill(const std::string& uuid, int signal) {
  return Locked(uuid, [&](const std::shared_ptr<Box>& b, const OciRuntime& rt) -> Status {
    ZUNVM_RETURN_IF_ERROR(RequireRunning(*b, true));
    return KillContainer(rt, uuid, signal);
  });
}

Status OciDriver::Pause(const std::string& uuid) {
  return Locked(uuid, [&](const std::shared_ptr<Box>& b, const OciRuntime& rt) -> Status {
    ZUNVM_RETURN_IF_ERROR(RequireRunning(*b, false));
    return PauseContainer(rt, uuid);
  });
}

Status OciDriver::Unpause(const std::string& uuid) {
  return Locked(uuid, [&](const std::shared_ptr<Box>& b, const OciRuntime& rt) -> Status {
    if (InfoOf(*b).state != SandboxState::kPaused) return Status::Conflict("Container " + uuid + " is not paused");
    return ResumeContainer(rt, uuid);
  });
}

// ---- delete ------------------------------------------------------------------------------------

Status OciDriver::Destroy(Box& b) {
  Quiesce(b);
  auto rt = RuntimeOf(b.rec);
  if (rt) ZUNVM_RETURN_IF_ERROR(DeleteContainer(**rt, b.uuid, MonitorPaths{b.dir}));
  JoinWatcher(b);
  ZUNVM_RETURN_IF_ERROR(UnmountVolumes(b.dir));
  ZUNVM_RETURN_IF_ERROR(UnmountRootfs(b.dir));
  ZUNVM_RETURN_IF_ERROR(net_->RemoveContainerNetns(ContainerNetnsName(b.uuid)));
  for (const auto& nic : b.rec.spec.nics) {
    if (!nic.ovs_bridge.empty()) ZUNVM_RETURN_IF_ERROR(UnplugNic(nic));  // its OVS port outlives the veth
  }
  std::error_code ec;
  fs::remove_all(b.dir, ec);  // nothing is mounted under it any more
  if (ec) return Status::Internal("cannot remove " + b.dir + ": " + ec.message());
  return Status::Ok();
}

Status OciDriver::Delete(const std::string& uuid, bool force) {
  auto bp = Find(uuid);
  if (!bp) return bp.error().code() == Code::kNotFound ? Status::Ok() : bp.error();
  Box& b = **bp;
  std::lock_guard<std::mutex> op(b.op);
  SandboxState s = InfoOf(b).state;
  if (!force && (s == SandboxState::kRunning || s == SandboxState::kPaused)) {
    return Status::Conflict("Container " + uuid + " is running; stop it or delete with force");
  }
  ZUNVM_RETURN_IF_ERROR(Destroy(b));
  std::lock_guard<std::mutex> lock(mu_);
  boxes_.erase(uuid);
  return Status::Ok();
}

// ---- state -------------------------------------------------------------------------------------

SandboxInfo OciDriver::InfoOf(Box& b) {
  SandboxInfo info;
  OciRecord rec;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    rec = b.rec;
  }
  info.uuid = b.uuid;
  info.sandbox_id = b.uuid;
  info.hostname = rec.spec.hostname;
  info.exit_code = rec.exit_code;
  switch (rec.state) {
    case OciState::kCreating:
    case OciState::kCreated: info.state = SandboxState::kCreated; return info;
    case OciState::kStopped: info.state = SandboxState::kStopped; return info;
    case OciState::kRunning: break;
  }
  const MonitorPaths p{b.dir};
  if (auto code = ExitCodeOf(p, b.uuid)) {
    info.state = SandboxState::kStopped;
    info.exit_code = *code;
    return info;
  }
  auto rt = RuntimeOf(rec);
  auto st = rt ? StateOf(**rt, b.uuid) : Result<RuntimeState>(Err(rt.error()));
  if (!st) {
    info.state = SandboxState::kStopped;  // the runtime lost it: the watcher reports it lost
    return info;
  }
  info.state = st->status == SandboxState::kCreated ? SandboxState::kRunning : st->status;
  return info;
}

Result<SandboxInfo> OciDriver::Inspect(const std::string& uuid) {
  auto bp = Find(uuid);
  if (!bp) return Err(bp.error());
  return InfoOf(**bp);
}

Result<std::vector<SandboxInfo>> OciDriver::List() {
  std::vector<std::shared_ptr<Box>> boxes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [uuid, b] : boxes_) boxes.push_back(b);
  }
  std::vector<SandboxInfo> out;
  for (auto& b : boxes) out.push_back(InfoOf(*b));
  return out;
}

// ---- recovery ----------------------------------------------------------------------------------

Status OciDriver::Init() {
  const std::string root = opts_.state_dir + "/oci";
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Status::Internal("cannot make " + root + ": " + ec.message());
  ::chmod(root.c_str(), 0711);
  ZUNVM_RETURN_IF_ERROR(MakePrivateMountRoot(root));
  for (const auto& [name, rt] : opts_.runtimes) {
    fs::create_directories(rt.root, ec);
    if (ec) return Status::Internal("cannot make " + rt.root + ": " + ec.message());
  }
  std::vector<std::shared_ptr<Box>> adopted;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string uuid = entry.path().filename().string();
    auto rec = LoadOciRecord(entry.path().string() + "/sandbox.json");
    auto b = std::make_shared<Box>();
    b->uuid = uuid;
    b->dir = entry.path().string();
    if (!rec || rec->state == OciState::kCreating || rec->spec.uuid != uuid) {
      if (rec) b->rec = *rec;
      Logger("oci")->warn("removing the half-made sandbox {}", uuid);
      Status st = Destroy(*b);
      if (!st.ok()) Logger("oci")->error("sandbox {}: {}", uuid, st.ToString());
      continue;
    }
    b->rec = *rec;
    std::lock_guard<std::mutex> lock(mu_);
    boxes_[uuid] = b;
    if (rec->state == OciState::kRunning) adopted.push_back(b);
  }
  // A run whose monitor died has lost its output and exit: end it, and say so.
  for (auto& b : adopted) {
    const MonitorPaths p{b->dir};
    if (!ExitCodeOf(p, b->uuid) && !MonitorPidOf(p, b->uuid)) {
      auto rt = RuntimeOf(b->rec);
      if (rt) (void)DeleteContainer(**rt, b->uuid, p);
      {
        std::lock_guard<std::mutex> lock(b->mu);
        b->rec.state = OciState::kStopped;
        b->rec.exit_reported = true;
        (void)Save(*b);
      }
      if (events_) events_->OnLost(b->uuid, "its monitor (conmon) died while zunvmd was away");
      continue;
    }
    std::error_code ec;
    const uint64_t logged = fs::file_size(p.Log(), ec);
    StartWatcher(b, ec ? 0 : logged);
  }
  Status st = CleanupStaleLoops(opts_.state_dir);
  if (!st.ok()) Logger("oci")->warn("loop devices: {}", st.ToString());
  return Status::Ok();
}

}  // namespace zunvm::oci
