// LibvirtDriver: booting a sandbox's VM to a running agent with its container created, and
// tearing it down.
#include "driver/libvirt/driver_internal.h"

#include <grp.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "common/logging.h"
#include "common/metrics.h"
#include "driver/disk_serial.h"
#include "driver/oci/oci_spec.h"

namespace zunvm::libvirt {

// ---- Boot and teardown ------------------------------------------------------------------------

namespace {

// A pod's image disks, each once, in member order.
std::vector<std::string> PodImages(const SandboxSpec& pod) {
  std::vector<std::string> images;
  for (const auto& m : pod.members) {
    if (std::find(images.begin(), images.end(), m.image_disk) == images.end()) images.push_back(m.image_disk);
  }
  return images;
}

}  // namespace

std::vector<DiskConfig> SandboxDisks(const SandboxSpec& s) {
  std::vector<DiskConfig> disks;
  if (s.members.empty()) {
    disks = {{s.image_disk, "rootfs", true, false}, {s.upper_disk, "upper", false, false}};
  } else {
    auto images = PodImages(s);
    for (size_t i = 0; i < images.size(); ++i) disks.push_back({images[i], "img" + std::to_string(i), true, false});
    for (size_t i = 0; i < s.members.size(); ++i) disks.push_back({s.members[i].upper_disk, "up" + std::to_string(i), false, false});
  }
  for (const auto& v : s.volumes) disks.push_back({v.path, v.serial, v.read_only, v.block});
  return disks;
}

std::pair<std::string, std::string> MemberDiskSerials(const SandboxSpec& pod, size_t member) {
  auto images = PodImages(pod);
  auto at = std::find(images.begin(), images.end(), pod.members[member].image_disk) - images.begin();
  return {"img" + std::to_string(at), "up" + std::to_string(member)};
}

Result<agent::op::CreateContainer::Request> CreateRequestFor(const SandboxSpec& s, const std::pair<std::string, std::string>& disks,
                                                             const SandboxSpec* pod) {
  uint32_t uid, gid;
  ZUNVM_RETURN_IF_ERROR(ParseUser(s.user, &uid, &gid));
  const auto& nics = pod ? pod->nics : s.nics;
  const std::string hostname = (pod ? pod->hostname : s.hostname).substr(0, 63);  // a pod's members have its
  agent::op::CreateContainer::Request body;
  body.id = s.uuid;
  body.rootfs_disk = agent::op::DiskRef{disks.first, "ext4", true};
  body.upper_disk = agent::op::DiskRef{disks.second, "ext4", false};
  body.argv = s.argv;
  body.env = EnvList(s);
  body.cwd = s.workdir.empty() ? "/" : s.workdir;
  body.uid = uid;
  body.gid = gid;
  body.hostname = hostname;
  body.hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
               (nics.empty() ? std::string("127.0.1.1") : nics[0].address) + "\t" + hostname + "\n";
  body.memory_bytes = s.memory_mib << 20;
  body.cpus = s.cpu;
  body.resolv_conf = pod ? pod->resolv_conf : s.resolv_conf;
  body.tty = s.tty;
  body.stdin = s.interactive;
  body.privileged = s.privileged;
  for (const auto& v : s.volumes) {
    agent::op::DiskRef disk{v.serial, v.fstype, v.read_only};
    if (pod) {  // the pod's disk: read-only only when every member mounts it so
      auto pv = std::find_if(pod->volumes.begin(), pod->volumes.end(), [&](const SandboxVolume& p) { return p.serial == v.serial; });
      if (pv == pod->volumes.end()) return Err(Status::Invalid("a member mounts volume " + v.serial + ", which the pod does not have"));
      disk = agent::op::DiskRef{pv->serial, pv->fstype, pv->read_only};
    }
    body.volumes.push_back({disk, v.destination, v.read_only});
  }
  for (const auto& f : s.files) body.files.push_back({f.destination, f.content});
  // The container's OCI config.json, which the agent builds it from (the fields above are for
  // agents that predate it). Its root and volumes are the disks above, mounted by the agent.
  SandboxSpec described = s;
  described.hostname = hostname;
  described.volumes.clear();
  oci::OciSpecOptions o;
  o.root_path = "/";
  o.uid = uid;
  o.gid = gid;
  auto oci = oci::BuildOciSpec(described, o);
  if (!oci) return Err(oci.error());
  body.oci = std::move(*oci);
  return body;
}

Status ValidateVolumes(const SandboxSpec& s) {
  if (s.volumes.size() > kMaxVolumes) return Status::Invalid("a sandbox has at most " + std::to_string(kMaxVolumes) + " volumes");
  std::set<std::string> serials = {"rootfs", "upper"};
  for (const auto& v : s.volumes) {
    if (!ValidDiskSerial(v.serial) || !serials.insert(v.serial).second) return Status::Invalid("bad or repeated volume serial '" + v.serial + "'");
    if (v.path.empty() || v.path[0] != '/') return Status::Invalid("a volume needs an absolute path");
    if (v.destination.empty() || v.destination[0] != '/') return Status::Invalid("a volume needs an absolute destination");
    if (v.fstype != "ext4" && v.fstype != "ext2" && v.fstype != "xfs") return Status::Invalid("bad volume fstype " + v.fstype);
  }
  if (s.files.size() > kMaxVolumes) return Status::Invalid("a sandbox has at most " + std::to_string(kMaxVolumes) + " injected files");
  size_t bytes = 0;
  for (const auto& f : s.files) bytes += f.content.size();
  if (bytes > agent::op::kMaxInjectBytes) return Status::Invalid("injected files hold more than 1 MiB in all");
  return Status::Ok();
}

uint64_t LibvirtDriver::NextBoot(Box& b) {
  std::lock_guard<std::mutex> lock(b.mu);
  b.main_exit.reset();
  b.stopping = false;
  b.lost = false;
  b.lost_reason.clear();
  return ++b.gen;
}

void LibvirtDriver::VmIsUp(Box& b, const VmUp& up) {
  std::lock_guard<std::mutex> lock(b.mu);
  b.agent = up.agent;
  b.vm_up = true;
  b.vm_cpu = b.rec.spec.cpu;
  b.vm_mem_mib = up.memory_mib;
  b.acked = 0;
  b.cpu_at = {};
}

Status LibvirtDriver::BootFailed(Box& b, const Status& st) {
  Status out(st.code() == Code::kDeadlineExceeded ? Code::kUnavailable : st.code(),
             st.message() + " (guest console: " + ConsoleTail(b.console()) + ")");
  Teardown(b, false);
  return out;
}

Status LibvirtDriver::Boot(Box& b) {
  if (!b.rec.spec.members.empty()) return BootPod(b);
  uint32_t uid, gid;
  ZUNVM_RETURN_IF_ERROR(ParseUser(b.rec.spec.user, &uid, &gid));
  const SandboxSpec& s = b.rec.spec;
  if (s.image_disk.empty() || s.upper_disk.empty()) {
    return Status::Invalid("the sandbox has no root disk (the image was not prepared)");
  }
  uint64_t gen = NextBoot(b);
  auto t0 = Clock::now();
  b.booted_at = t0;
  auto deadline = t0 + opts_.boot_timeout;
  if (s.argv.empty()) return Status::Invalid("the container has no command (the image gives none either)");
  ZUNVM_RETURN_IF_ERROR(ValidateVolumes(s));
  if (b.socket().size() >= 108) return Status::Invalid("state_dir is too long for a unix socket path: " + b.socket());
  auto profile = Profile(s.runtime);
  if (!profile) return profile.error();
  // The pool's VMs are the default runtime's, without passed-through devices.
  bool poolable = (s.runtime.empty() || s.runtime == opts_.default_runtime) && (*profile)->hostdevs.empty();
  std::optional<PoolMember> member;
  if (pool_ && poolable && s.nics.size() <= kPoolNics && s.volumes.size() <= kPoolVolumes) member = pool_->Claim(VcpusFor(s.cpu), s.memory_mib + opts_.memory_overhead_mib);
  // The pool refills once this claim (up to the container's creation) is done.
  struct ClaimDone {
    SandboxPool* pool;
    ~ClaimDone() {
      if (pool) pool->ClaimFinished();
    }
  } claim_done{member ? pool_.get() : nullptr};
  VmUp up;
  Status st = member ? ClaimVm(b, *member, gen, deadline, &up) : BootVm(b, gen, deadline, &up);
  if (!st.ok()) return st;
  std::shared_ptr<agent::AgentClient> a = up.agent;
  auto fail = [&](const Status& st) { return BootFailed(b, st); };
  VmIsUp(b, up);
  auto body = CreateRequestFor(s, {"rootfs", "upper"}, nullptr);
  if (!body) return fail(body.error());
  if (!s.nics.empty() && !member) {
    if (Status st = ConfigureGuestNics(*a, s.nics, true, Left(deadline)); !st.ok()) return fail(st);
  }
  auto created = a->Call<agent::op::CreateContainer>(*body, Left(deadline));
  if (!created) return fail(created.error());
  if (member) {  // the container shares the VM's network: configured before it starts
    double t_created = Since(t0);
    if (Status st = ConfigureClaimedNics(*a, s.nics, deadline); !st.ok()) return fail(st);
    up.steps["claim_container_created_s"] = t_created;
    up.steps["claim_nics_configured_s"] = Since(t0);
  }
  std::lock_guard<std::mutex> lock(b.mu);
  b.rec.boot = {{"domain_started_s", up.defined_s},
                {"kernel_booted_s", std::max(up.defined_s, up.ready_s - up.init_age_s)},
                {"agent_ready_s", up.ready_s},
                {"container_created_s", Since(t0)},
                {"vcpus", VcpusFor(s.cpu)},
                {"memory_mib", up.memory_mib},
                {"pool", member.has_value()},
                {"guest_kernel", member ? member->kernel : up.kernel}};
  if (member) b.rec.boot["pool_vm_start_s"] = member->start_s;
  for (const auto& [k, v] : up.steps.items()) b.rec.boot[k] = v;
  Logger("libvirt")->info("sandbox {}: VM up in {:.2f} s ({}; agent {:.2f} s)", b.uuid, Since(t0),
                          member ? "from the pool" : "booted", up.ready_s);
  static auto& boot = metrics::Global().Histogram(
      "zunvm_sandbox_boot_seconds", "From the domain's creation (or a pool claim) to its agent's hello",
      {"runtime", "source"}, metrics::OperationSeconds());
  boot.Observe({s.runtime.empty() ? opts_.default_runtime : s.runtime, member ? "pool" : "cold"}, up.ready_s);
  return Status::Ok();
}

// A cold boot: a new domain with the sandbox's disks and NICs, up to its agent's hello.
Status LibvirtDriver::BootVm(Box& b, uint64_t gen, Clock::time_point deadline, VmUp* up) {
  const SandboxSpec& s = b.rec.spec;
  auto t0 = Clock::now();
  if (!b.rec.domain.empty()) {  // the last VM was a pool member's; this one is zunvm-<uuid>
    ZUNVM_RETURN_IF_ERROR(Record(b, [](SandboxRecord& r) { r.domain.clear(); }));
    b.set_name("");
  }
  ::unlink(b.socket().c_str());
  auto profile = Profile(s.runtime);
  if (!profile) return profile.error();
  DomainConfig dc = ShapeConfig(**profile, s.cpu, s.memory_mib + opts_.memory_overhead_mib);
  dc.uuid = b.uuid;
  dc.console_log = b.console();
  dc.agent_socket = b.socket();
  dc.disks = SandboxDisks(s);
  for (const auto& nic : s.nics) {
    NicConfig n = NicFor(nic);
    ZUNVM_RETURN_IF_ERROR(ValidateNic(n));
    ZUNVM_RETURN_IF_ERROR(PrepareTap(nic));
    dc.nics.push_back(n);
  }
  auto fail = [&](const Status& st) { return BootFailed(b, st); };
  if (Status st = hv_->Create(BuildDomainXml(dc)); !st.ok()) {
    Teardown(b, false);  // removes the taps
    return st;
  }
  up->defined_s = Since(t0);
  up->memory_mib = dc.memory_mib;
  // qemu holds the taps open now: they move onto their networks' bridges.
  for (const auto& nic : s.nics) {
    if (Status st = JoinNetwork(nic); !st.ok()) return fail(st);
  }
  std::weak_ptr<Box> weak = Find(b.uuid);
  auto client = agent::AgentClient::Connect(
      b.socket(), Left(deadline),
      [this, weak, gen](agent::Message& m) { OnAgentEvent(weak, gen, m); });
  if (!client) return fail(client.error());
  std::shared_ptr<agent::AgentClient> a(std::move(*client));
  auto hello = a->Call<agent::op::Hello>({agent::kProtocolVersion, std::nullopt}, Left(deadline));
  if (!hello) return fail(Status(hello.error().code(), "the guest agent did not answer: " + hello.error().message()));
  up->agent = a;
  up->kernel = hello->kernel;
  up->ready_s = Since(t0);
  // The guest's own clock: how long the agent had been running when it answered.
  up->init_age_s = static_cast<double>(hello->uptime_ms - hello->started_uptime_ms) / 1000.0;
  return Status::Ok();
}

void LibvirtDriver::Teardown(Box& b, bool graceful) {
  std::shared_ptr<agent::AgentClient> a;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    b.vm_up = false;
    b.gen++;
    a = std::move(b.agent);
  }
  CloseStreams(b, std::nullopt);
  {
    std::lock_guard<std::mutex> lock(b.mu);
    b.execs.clear();
  }
  b.cv.notify_all();
  DetachMembers(b, false, "");
  if (graceful && a && a->Alive()) {
    // The agent syncs and powers off; the transient domain then disappears on its own.
    if (a->Call<agent::op::Shutdown>({}, seconds(3))) {
      auto deadline = Clock::now() + seconds(5);
      while (Clock::now() < deadline) {
        auto st = hv_->State(b.name());
        if (!st || *st == DomainState::kShutoff) break;
        std::this_thread::sleep_for(milliseconds(20));
      }
    }
  }
  Status st = hv_->Destroy(b.name());
  if (!st.ok() && st.code() != Code::kNotFound) {
    Logger("libvirt")->warn("sandbox {}: {}", b.uuid, st.ToString());
  }
  a.reset();
  ::unlink(b.socket().c_str());
  std::vector<SandboxNic> nics;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    nics = b.rec.spec.nics;
  }
  for (const auto& nic : nics) {
    Status del = RemoveTap(nic);
    if (!del.ok()) Logger("libvirt")->warn("sandbox {}: {}", b.uuid, del.ToString());
  }
}

}  // namespace zunvm::libvirt
