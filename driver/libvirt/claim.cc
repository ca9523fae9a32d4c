// LibvirtDriver: a sandbox takes a running VM from the pool (pool.h) instead of booting one.
#include <cstdio>
#include <filesystem>
#include <future>

#include "common/logging.h"
#include "driver/libvirt/driver_internal.h"

namespace zunvm::libvirt {

namespace fs = std::filesystem;

std::vector<std::string> LibvirtDriver::Runtimes() const {
  std::vector<std::string> out;
  for (const auto& [name, g] : opts_.runtimes) out.push_back(name);
  return out;
}

std::string LibvirtDriver::RuntimeUnavailable(const std::string& runtime) const {
  auto it = opts_.unavailable.find(runtime);
  return it == opts_.unavailable.end() ? "" : it->second;
}

Result<const GuestProfile*> LibvirtDriver::Profile(const std::string& runtime) const {
  const std::string& name = runtime.empty() ? opts_.default_runtime : runtime;
  auto it = opts_.runtimes.find(name);
  if (it == opts_.runtimes.end()) {
    std::string why = RuntimeUnavailable(name);
    return Err(Status::Invalid("runtime " + name + " is not a VM runtime of this host" + (why.empty() ? "" : ": " + why)));
  }
  for (const auto& dev : it->second.hostdevs) {  // a device can go away after start
    std::error_code ec;
    if (!fs::exists("/sys/bus/pci/devices/" + dev, ec)) {
      return Err(Status::Invalid("runtime " + name + " passes through PCI device " + dev + ", which is not on this host"));
    }
  }
  return &it->second;
}

DomainConfig LibvirtDriver::ShapeConfig(const GuestProfile& g, double cpu, int64_t memory_mib) const {
  DomainConfig dc;
  dc.instance = instance_;
  dc.virt_type = g.virt_type;
  dc.cpu = cpu;
  dc.cpu_overhead = opts_.cpu_overhead;
  dc.tb_cache_mib = opts_.tb_cache_mib;
  dc.memory_mib = memory_mib;
  dc.kernel = g.kernel;
  dc.initrd = g.initrd;
  dc.cmdline = g.cmdline.empty() ? kDefaultGuestCmdline : g.cmdline;
  dc.machine = g.machine;
  dc.hostdevs = g.hostdevs;
  dc.hotplug_ports = opts_.hotplug_ports;
  return dc;
}

// The member becomes the sandbox's VM: its domain is recorded first (a zunvmd killed from here
// on finds the sandbox `creating` and the domain carrying its uuid or none, and destroys it),
// its socket and console move into the sandbox directory (qemu keeps them open: a rename does
// not disturb it), its metadata names the container, its events go to the box; then it gets a
// fresh identity, the container's CPU quota, its disks and NICs. Caller holds the box's op.
Status LibvirtDriver::ClaimVm(Box& b, PoolMember& m, uint64_t gen, Clock::time_point deadline, VmUp* up) {
  const SandboxSpec& s = b.rec.spec;
  auto t0 = Clock::now();
  // The host side of the NICs (namespace, bridge, taps: a dozen `ip` runs) needs nothing from
  // the VM: it is made on another thread while the guest takes its identity and disks. The
  // future is always waited for before this returns (its destructor blocks), and on failure
  // Teardown removes what it made.
  std::vector<NicConfig> nics;
  for (const auto& nic : s.nics) {
    nics.push_back(NicFor(nic));
    if (Status st = ValidateNic(nics.back()); !st.ok()) {
      (void)hv_->Destroy(m.name);
      return st;
    }
  }
  if (Status st = Record(b, [&](SandboxRecord& r) { r.domain = m.name; }); !st.ok()) {
    (void)hv_->Destroy(m.name);
    return st;
  }
  std::future<Status> taps = std::async(std::launch::async, [this, wanted = s.nics]() -> Status {
    for (const auto& nic : wanted) ZUNVM_RETURN_IF_ERROR(PrepareTap(nic));
    return Status::Ok();
  });
  b.set_name(m.name);
  auto fail = [&](const Status& st) {
    if (taps.valid()) (void)taps.get();  // nothing may still be making taps when Teardown runs
    Status out(st.code(), st.message() + " (a VM from the pool; guest console: " + ConsoleTail(b.console()) + ")");
    Teardown(b, false);
    return out;
  };
  ::unlink(b.socket().c_str());
  if (std::rename(m.socket().c_str(), b.socket().c_str()) != 0 ||
      std::rename(m.console().c_str(), b.console().c_str()) != 0) {
    return fail(Status::Internal("cannot move the pool VM's socket into " + b.dir));
  }
  std::error_code ec;
  fs::remove_all(m.dir, ec);
  if (Status st = hv_->SetMetadata(m.name, MetadataXml(b.uuid, instance_)); !st.ok()) return fail(st);
  std::weak_ptr<Box> weak = Find(b.uuid);
  m.route->Set([this, weak, gen](agent::Message& msg) { OnAgentEvent(weak, gen, msg); });
  up->agent = m.agent;
  up->defined_s = 0;
  up->memory_mib = pool_->options().shape.memory_mib;
  if (Status st = SandboxPool::Refresh(*m.agent, Left(deadline)); !st.ok()) return fail(st);
  up->ready_s = Since(t0);
  up->init_age_s = 0;
  up->steps["claim_identity_s"] = up->ready_s;
  // The member runs with its shape's quota; libvirt takes ~0.5 s to change one, so only when
  // the container's differs.
  int vcpus = VcpusFor(s.cpu);
  int64_t quota = VcpuQuotaFor(s.cpu + opts_.cpu_overhead, vcpus);
  const DomainConfig& shape = pool_->options().shape;
  if (quota != VcpuQuotaFor(shape.cpu + shape.cpu_overhead, vcpus)) {
    if (Status st = hv_->SetVcpuQuota(m.name, kCpuPeriodUs, quota); !st.ok()) return fail(st);
  }
  char dev = 'a';
  for (const auto& disk : SandboxDisks(s)) {
    if (Status st = hv_->AttachDevice(m.name, BuildDiskXml(disk, dev++)); !st.ok()) return fail(st);
  }
  double t_disks = Since(t0);
  up->steps["claim_disks_s"] = t_disks;
  if (Status st = taps.get(); !st.ok()) return fail(st);
  for (size_t i = 0; i < s.nics.size(); ++i) {
    Status st = hv_->AttachDevice(m.name, BuildInterfaceXml(nics[i]));
    if (st.ok()) st = JoinNetwork(s.nics[i]);
    if (!st.ok()) return fail(st);
  }
  // The guest configures them (ConfigureClaimedNics) once its PCIe hot-plug has found them,
  // after the container is created: that waits for the disks meanwhile.
  double t_nics = Since(t0);
  up->steps["claim_nics_plugged_s"] = t_nics;
  Logger("libvirt")->debug("sandbox {}: claimed pool VM {} in {:.3f} s (identity {:.3f} s, disks {:.3f} s, NICs plugged {:.3f} s)", b.uuid, m.uuid, Since(t0), up->ready_s, t_disks, t_nics);
  return Status::Ok();
}

// The claimed VM's guest sees hot-plugged NICs once its PCIe hot-plug is done: until then the
// agent answers NotFound, and this asks again.
Status LibvirtDriver::ConfigureClaimedNics(agent::AgentClient& a, const std::vector<SandboxNic>& nics,
                                           Clock::time_point deadline) {
  while (!nics.empty()) {
    Status st = ConfigureGuestNics(a, nics, true, Left(deadline));
    if (st.ok() || st.code() != Code::kNotFound || Clock::now() > deadline) return st;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return Status::Ok();
}

}  // namespace zunvm::libvirt
