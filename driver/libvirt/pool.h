// SandboxPool: VMs booted ahead of need, so that a create takes a running guest instead of
// booting one (Kata's VM factory: template + cache).
//
// Template: one VM of the pool's shape (kernel, initramfs, vCPUs, memory, devices) is booted
// once to its agent's hello with its RAM in a file on tmpfs mapped shared, paused, and its
// device state saved (QMP migrate with x-ignore-shared: the RAM stays in the file, the state is
// ~0.4 MB). It is never changed again: a new shape or new binaries make a new template beside it.
// Member: a clone of the template: the same devices, the RAM file mapped private (copy-on-write,
// so the template's pages are shared by every clone), the saved state loaded (migrate-incoming),
// resumed. With use_templates = false members are cold-booted VMs (no sharing between VMs).
// Every member gets fresh entropy, the host's clock and a new agent boot id when it starts and
// again when it is claimed (op::Identity), so clones share no RNG state.
//
// Members are transient domains named zunvm-pool-<uuid> with pool metadata and no container;
// Claim hands one over (the caller hot-plugs disks and NICs, renames its socket and console into
// the sandbox, and writes the container into the metadata). A zunvmd that starts destroys the
// unclaimed members and templates of its instance that an earlier run left (DestroyLeftovers).
//
// Threads: one refill thread keeps `size` members ready; Claim and the destructor may be called
// from any thread. Errors starting members are logged and retried with a back-off; a failing
// pool never fails a create (the caller boots cold).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "driver/libvirt/domain_xml.h"
#include "driver/libvirt/hypervisor.h"

namespace zunvm::agent {
class AgentClient;
struct Message;
}  // namespace zunvm::agent

namespace zunvm::libvirt {

// Makes `dir` (and its parents) and gives it to group kvm, 0770: libvirt's unprivileged qemu
// user (in group kvm on Debian) creates sockets and files there.
Status MakeQemuReachableDir(const std::string& dir);

struct PoolOptions {
  int size = 0;               // members kept ready (0: no pool)
  bool use_templates = true;  // false: members are cold-booted (no memory shared between VMs)
  std::string template_dir;   // tmpfs; templates go in <template_dir>/<instance>/
  std::string member_dir;     // members' sockets and consoles: <member_dir>/<uuid>/
  std::chrono::seconds boot_timeout{60};
  // The shape: everything but names, paths, disks and NICs (those come at claim).
  DomainConfig shape;
};

// Where a member's agent events go: nowhere until a sandbox claims it.
struct EventRoute {
  std::mutex mu;
  std::shared_ptr<std::function<void(agent::Message&)>> to;
  void Set(std::function<void(agent::Message&)> fn);
  void Deliver(agent::Message& m);
};

struct PoolMember {
  std::string uuid, name, dir;  // its own uuid, domain name and directory
  std::shared_ptr<agent::AgentClient> agent;
  std::shared_ptr<EventRoute> route;
  double start_s = 0;  // domain start to agent ready
  std::string kernel;  // the guest kernel's release, from the agent's hello
  std::string socket() const { return dir + "/agent.sock"; }
  std::string console() const { return dir + "/console.log"; }
};

class SandboxPool {
 public:
  SandboxPool(PoolOptions opts, Hypervisor& hv);
  ~SandboxPool();  // stops refilling and destroys the members nobody claimed
  // Destroys what an earlier run of this instance left unclaimed (members, template VMs,
  // member directories) and starts refilling. `ours`: the domains of this instance.
  void Start(const std::vector<DomainInfo>& ours);
  // A ready member when the pool has one of this shape (vCPUs equal, memory within), else none.
  // A member handed out is a claim in progress until ClaimFinished: refills wait for claims
  // (they share libvirtd, which serialises domain starts with hot-plugs, and the CPUs).
  std::optional<PoolMember> Claim(int vcpus, int64_t memory_mib);
  void ClaimFinished();
  // Fresh entropy, the host clock and a new boot id into the member's guest.
  static Status Refresh(agent::AgentClient& a, std::chrono::milliseconds timeout);
  int Ready();
  const PoolOptions& options() const { return opts_; }

 private:
  Status EnsureTemplate();
  Result<PoolMember> StartMember();
  Status WarmUp(PoolMember& m, std::chrono::steady_clock::time_point deadline);
  void Discard(const PoolMember& m);
  void RefillLoop();
  DomainConfig MemberConfig(const std::string& uuid, const std::string& dir, bool clone) const;

  PoolOptions opts_;
  Hypervisor& hv_;
  // Set by EnsureTemplate (refill thread only).
  std::string template_ram_, template_state_, warm_root_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<PoolMember> ready_;
  std::chrono::steady_clock::time_point last_claim_{};
  int claiming_ = 0;  // claims in progress
  bool stopping_ = false;
  std::thread refill_;
};

}  // namespace zunvm::libvirt
