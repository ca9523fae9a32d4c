// LibvirtDriver: the real SandboxDriver. Every sandbox is one transient libvirt domain
// (zunvm-<uuid>) that boots the guest image directly (kernel + initramfs, the agent as PID 1)
// with the image's shared read-only disk and the container's own writable disk, and talks to
// its agent over a virtio-serial unix socket in <state_dir>/sandboxes/<uuid>/.
//
// Life cycle: Create boots the VM, waits for the agent and creates the container (stopped
// before execve); Start releases it. When the main process exits (or Stop ends it) the VM is
// shut down; a later Start boots a new VM on the same writable disk, so file changes stay.
// Pause/Unpause freeze and thaw the container's cgroup in the guest (the VM runs on).
//
// Durability: each sandbox's spec and state are in sandbox.json (sandbox_record.h). Init()
// adopts what it finds: VMs still running are reconnected (the agent replays unacknowledged
// events), domains of ours without a sandbox directory are destroyed, and sandboxes whose VM
// vanished are reported lost (Inspect: NotFound with the reason). "Ours" is the instance id
// kept in <state_dir>/instance-id and written into each domain's metadata: several zunvmds
// (tests side by side) can share one libvirtd without touching each other's VMs.
//
// Threads: the agents' reader threads deliver output (OnOutput) directly; exits and VM losses
// are handled on the driver's one worker thread, which also acknowledges delivered events every
// 200 ms. Each sandbox has an operation mutex (one life-cycle call at a time) and a field mutex
// that is never held across a call into libvirt or an agent.
#pragma once

#include <chrono>
#include <condition_variable>
#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/metrics.h"
#include "driver/driver.h"
#include "driver/libvirt/hypervisor.h"
#include "driver/libvirt/pool.h"
#include "driver/libvirt/sandbox_record.h"
#include "network/host_network.h"

namespace zunvm::agent {
class AgentClient;
struct Message;
}

namespace zunvm::libvirt {

// A runtime of type vm (common/runtime_config.h) resolved to what a domain needs.
struct GuestProfile {
  std::string kernel, initrd;      // readable files
  std::string cmdline;             // empty: kDefaultGuestCmdline
  std::string machine = "q35";
  std::string virt_type = "kvm";   // kvm | qemu
  std::vector<std::string> hostdevs;  // PCI addresses (ValidPciAddress), VFIO passthrough
};

struct LibvirtDriverOptions {
  std::string state_dir;           // sandboxes/ is made under it
  // The guest profiles by runtime name; `default_runtime` (a key) serves containers that name
  // none and fills the pool. Empty: one profile, "kata", of the four fields below.
  std::map<std::string, GuestProfile> runtimes;
  std::string default_runtime = "kata";
  // Runtimes the host cannot run (a missing kernel or PCI device) with the reason: reported by
  // RuntimeUnavailable, never booted.
  std::map<std::string, std::string> unavailable;
  std::string virt_type = "kvm";
  std::string kernel, initrd, cmdline;
  std::chrono::seconds boot_timeout{60};
  int64_t memory_overhead_mib = 128;  // guest kernel + agent, on top of the container's memory
  double cpu_overhead = 0.5;          // host CPU beyond the container's cpu (DomainConfig)
  int tb_cache_mib = 40;              // TCG translation cache (DomainConfig)
  int hotplug_ports = 4;              // NICs that can be hot-plugged into a running VM
  bool nat = false;                   // outbound NAT for the networks (HostNetwork::EnableNat)
  // The warm pool (pool.h) of VMs of the default container's shape; size 0: none.
  int pool_size = 0;
  bool pool_use_templates = true;
  std::string pool_template_dir = "/dev/shm/zunvm";
  double pool_cpu = 1;
  int64_t pool_memory_mib = 512;  // the container's; the VM has memory_overhead_mib more
};

// NICs a sandbox from the pool can have (each takes a spare root port of the pool's shape).
inline constexpr size_t kPoolNics = 2;
// ... and at most this many volumes (each a disk hot-plugged on a spare root port).
inline constexpr size_t kPoolVolumes = 2;
// A sandbox's volumes (disks vdc...), at most: q35's root bus has room for the two root disks,
// 11 volumes, the virtio-serial controller and the rng below its ICH9 slot (0x1f).
inline constexpr size_t kMaxVolumes = 11;

// The kernel command line the guest image is tuned for (docs/feasibility.md §1).
extern const char kDefaultGuestCmdline[];

class LibvirtDriver : public SandboxDriver {
 public:
  // `net` plumbs the sandboxes' NICs into zunvmd's networks (taps on namespace bridges).
  LibvirtDriver(LibvirtDriverOptions opts, std::unique_ptr<Hypervisor> hv, std::unique_ptr<HostNetwork> net);
  ~LibvirtDriver() override;
  // Connects to libvirt and adopts existing sandboxes. Call once, after SetEvents.
  Status Init() override;

  std::string Name() const override { return "libvirt"; }
  std::vector<std::string> Runtimes() const override;
  std::string RuntimeUnavailable(const std::string& runtime) const override;
  void SetEvents(DriverEvents* events) override { events_ = events; }

  Result<SandboxInfo> Create(const SandboxSpec& spec) override;
  Status Start(const std::string& uuid) override;
  Result<int> Stop(const std::string& uuid, std::chrono::seconds timeout) override;
  Status Kill(const std::string& uuid, int signal) override;
  Status Pause(const std::string& uuid) override;
  Status Unpause(const std::string& uuid) override;
  Status Delete(const std::string& uuid, bool force) override;
  Result<SandboxInfo> Inspect(const std::string& uuid) override;
  Result<std::vector<SandboxInfo>> List() override;
  Result<ExecResult> Exec(const std::string& uuid, const std::vector<std::string>& argv,
                          std::chrono::seconds timeout) override;
  Status ResizeTty(const std::string& uuid, int width, int height) override;
  Result<std::string> ExecInteractive(const std::string& uuid, const std::vector<std::string>& argv, bool tty,
                                      int width, int height, std::shared_ptr<ProcessSink> sink) override;
  Result<uint64_t> Watch(const std::string& uuid, std::shared_ptr<ProcessSink> sink) override;
  void Unwatch(const std::string& uuid, uint64_t handle) override;
  Status WriteStdin(const std::string& uuid, const std::string& process, const std::string& data) override;
  Status CloseStdin(const std::string& uuid, const std::string& process) override;
  Status ResizeProcess(const std::string& uuid, const std::string& process, int width, int height) override;
  Result<TopResult> Top(const std::string& uuid, const std::string& ps_args) override;
  Result<SandboxStats> Stats(const std::string& uuid) override;
  Result<Archive> GetArchive(const std::string& uuid, const std::string& path) override;
  Status PutArchive(const std::string& uuid, const std::string& path, const std::string& tar) override;
  Result<bool> Update(const std::string& uuid, double cpu, int64_t memory_mib) override;
  Result<std::string> Commit(const std::string& uuid, const std::string& repository,
                             const std::string& tag) override;
  Status AttachNic(const std::string& uuid, const SandboxNic& nic) override;
  Status DetachNic(const std::string& uuid, const std::string& port_id) override;
  Result<std::vector<std::string>> NicPorts(const std::string& uuid) override;

  // The sandbox's directory (socket, console log, sandbox.json): for tests and benches.
  std::string SandboxDir(const std::string& uuid) const;

 private:
  struct Box;
  std::shared_ptr<Box> Find(const std::string& uuid);
  // Every box, copied out from under mu_.
  std::vector<std::shared_ptr<Box>> Boxes();
  void CollectMetrics(metrics::GaugeWriter& w);
  Result<std::shared_ptr<Box>> FindOrNotFound(const std::string& uuid);
  // Boots the VM and creates the container in it. Caller holds the box's op mutex.
  Status Boot(Box& b);
  // What booting or claiming a VM yields: its agent, when it answered, what it has.
  struct VmUp {
    std::shared_ptr<agent::AgentClient> agent;
    double defined_s = 0, ready_s = 0, init_age_s = 0;
    int64_t memory_mib = 0;
    std::string kernel;  // the guest kernel's release (hello)
    nlohmann::json steps = nlohmann::json::object();  // claim: seconds at the end of each step
  };
  // A new domain for the box (cold boot), or a pool member made the box's. Each cleans up after
  // itself on failure. Caller holds the box's op mutex.
  Status BootVm(Box& b, uint64_t gen, std::chrono::steady_clock::time_point deadline, VmUp* up);
  Status ClaimVm(Box& b, PoolMember& m, uint64_t gen, std::chrono::steady_clock::time_point deadline, VmUp* up);
  // The steps every boot shares (boot.cc). NextBoot starts a new generation (stale events of
  // the last VM are dropped) and clears what the last run left; VmIsUp records the VM's agent and
  // size once it answered; BootFailed tears the half-made VM down and returns `st` with the
  // guest console's last lines (a deadline is Unavailable). Callers hold the box's op.
  uint64_t NextBoot(Box& b);
  void VmIsUp(Box& b, const VmUp& up);
  Status BootFailed(Box& b, const Status& st);
  // The domain definition of a VM of this size, without names, paths, disks and NICs.
  // The guest profile of `runtime` (empty: the default one); InvalidArgument for a runtime
  // this driver does not run, or one whose PCI devices are gone from the host.
  Result<const GuestProfile*> Profile(const std::string& runtime) const;
  DomainConfig ShapeConfig(const GuestProfile& g, double cpu, int64_t memory_mib) const;
  // Powers the VM off (gracefully: the agent syncs first) and drops the agent. Caller holds op.
  void Teardown(Box& b, bool graceful);
  // A NIC's tap, made afresh in the host namespace (qemu opens it there) on its network.
  // JoinNetwork moves it onto its network's bridge once qemu holds it; RemoveTap deletes it.
  // All three leave a Neutron port's tap to libvirt (it plugs and unplugs it on the OVS bridge).
  Status PrepareTap(const SandboxNic& nic);
  Status JoinNetwork(const SandboxNic& nic);
  Status RemoveTap(const SandboxNic& nic);
  // Configures `nics` in the guest (the first one's gateway as default route when `route`).
  Status ConfigureGuestNics(agent::AgentClient& a, const std::vector<SandboxNic>& nics, bool route,
                            std::chrono::milliseconds timeout);
  // The same for a VM claimed from the pool, whose NICs were just hot-plugged: asks again while
  // the guest has not found them yet (NotFound), up to `deadline`.
  Status ConfigureClaimedNics(agent::AgentClient& a, const std::vector<SandboxNic>& nics,
                              std::chrono::steady_clock::time_point deadline);
  // Applies `change` to the box's record under its field mutex, then writes the record to
  // sandbox.json. Callers hold the box's op mutex (so saves happen in order); readers of the
  // record hold either mutex.
  Status Record(Box& b, const std::function<void(SandboxRecord&)>& change);
  // The running VM's agent, or Conflict when the sandbox is not running.
  // Freezes or thaws the container's cgroup in the guest (the agent's `freeze`).
  static Status Freeze(agent::AgentClient& a, const std::string& uuid, bool frozen);
  Result<std::shared_ptr<agent::AgentClient>> RunningAgent(Box& b);
  // Runs `fn` with an agent that sees the sandbox's files, booting a VM for it when stopped.
  Status WithFiles(const std::string& uuid, const std::function<Status(agent::AgentClient&)>& fn);
  void OnAgentEvent(const std::weak_ptr<Box>& weak, uint64_t gen, agent::Message& m);
  // Ends every console stream of the box (watchers of the main process, interactive execs):
  // each sink's OnClosed(code) once, outside the box's mutex. After a teardown or a main exit.
  static void CloseStreams(Box& b, std::optional<int> main_code);
  void HandleMainExit(const std::shared_ptr<Box>& b, uint64_t gen);
  void CheckLost(const std::shared_ptr<Box>& b, const std::string& reason);
  // After a reconnect to libvirt: destroys our domains no sandbox wants (recovery.cc).
  void DestroyStrayDomains();
  void Post(std::function<void()> fn);
  void WorkerLoop();
  Status Adopt(const std::shared_ptr<Box>& b, const DomainInfo* dom);
  Status LoadInstanceId();

  // Pods (pod.cc). Boot of a pod's box: the VM with every member's disks, the NICs, each
  // member's container created. Caller holds the pod's op.
  Status BootPod(Box& pod);
  // The member boxes of a pod from its spec and record, registered under their uuids
  // (Conflict when one is taken). Before anything can deliver the pod's events.
  Status MakeMembers(const std::shared_ptr<Box>& pod);
  void DropMembers(Box& pod);
  // The members follow the pod's VM: its agent once it is up; down (streams closed) when it
  // goes; lost with it.
  void AttachMembers(Box& pod);
  void DetachMembers(Box& pod, bool lost, const std::string& reason);
  // The box an event of a pod's agent is for: the member named by `exec_id` or running it.
  std::shared_ptr<Box> EventTarget(Box& pod, const std::string& exec_id);
  Status StartMember(Box& m);
  Result<int> StopMember(Box& m, std::chrono::seconds timeout);
  void HandleMemberExit(const std::shared_ptr<Box>& m);

  LibvirtDriverOptions opts_;
  std::string instance_;  // marks our domains among other zunvmds' on the same libvirtd
  std::unique_ptr<Hypervisor> hv_;
  std::unique_ptr<HostNetwork> net_;
  std::unique_ptr<SandboxPool> pool_;  // made by Init when pool_size > 0
  DriverEvents* events_ = nullptr;
  std::mutex mu_;  // guards boxes_
  std::map<std::string, std::shared_ptr<Box>> boxes_;
  std::atomic<uint64_t> next_exec_{1};
  std::atomic<bool> adopted_{false};  // Init adopted (or destroyed) every domain it found

  std::mutex work_mu_;
  std::condition_variable work_cv_;
  std::deque<std::function<void()>> work_;
  bool stopping_ = false;
  std::thread worker_;
  // Per-sandbox memory and CPU of its QEMU at scrape time (metrics.cc); registered by Init,
  // removed first by the destructor.
  metrics::CollectorHandle collector_;
};

}  // namespace zunvm::libvirt
