// FakeHypervisor: a Hypervisor whose domains are the real zunvm-agent on the host, so the
// libvirt driver's logic (boot, adoption, lost VMs, NIC hot-plug, event replay) is tested in
// seconds without VMs. Create records the domain XML and starts `zunvm-agent --listen
// <the channel socket> --disks <dir>` in a mount namespace of its own, the domain's disks
// attached as loop devices under their serials (the agent mounts them as in a guest).
// The agent is PID 1 of its own pid namespace: killing it ends all it started, as a VM
// powering off would. Destroy kills it and detaches the loops; an agent that dies, or one a test kills
// with Crash(), is a domain that stopped: the event handler hears of it, as from libvirt.
//
// Thread safety: thread-safe. Needs root (loop devices, mount namespaces) like the agent's
// container tests. Domains left when it is destroyed are destroyed too, unless Keep() was
// called (a "zunvmd restart": the next FakeHypervisor given Adopt(...) of them finds them).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "driver/libvirt/hypervisor.h"

namespace zunvm::libvirt {

class FakeHypervisor : public Hypervisor {
 public:
  // One domain as the fake runs it.
  struct Domain {
    std::string name, uuid, instance, xml, socket, disks_dir;
    pid_t agent = -1;
    std::vector<std::string> loops;  // /dev/loopN, detached on destroy
    DomainState state = DomainState::kRunning;
    std::vector<std::string> devices;  // hot-plugged device XML
    std::map<std::string, std::string> nic_names;  // MAC -> the NIC's name in the fake VM
    int next_nic = 0;
  };

  explicit FakeHypervisor(std::string agent_bin);
  ~FakeHypervisor() override;

  // ---- for tests
  // Every definition Create received, oldest first.
  std::vector<std::string> Definitions();
  // The device XML hot-plugged into `name` and still there.
  std::vector<std::string> Devices(const std::string& name);
  // The VM dies behind the driver's back (its qemu killed): the agent is killed and a stopped
  // event follows.
  Status Crash(const std::string& name);
  // Hands the running domains to another FakeHypervisor (a zunvmd restart: VMs live on).
  std::vector<std::shared_ptr<Domain>> Release();
  void Adopt(std::vector<std::shared_ptr<Domain>> domains);
  // How many calls each operation got.
  int Calls(const std::string& op);
  // libvirtd away (every domain call is Unavailable; the domains run on) or back. Reconnected()
  // then calls the reconnect handler, as LibvirtHypervisor does once it reopened its connection.
  void SetAway(bool away) { away_ = away; }
  void Reconnected();

  // ---- Hypervisor
  void SetEventHandler(EventHandler h) override;
  void SetReconnectHandler(std::function<void()> h) override;
  Status Open() override;
  Status Create(const std::string& xml) override;
  Status CreatePaused(const std::string& xml) override;
  Result<std::string> MonitorCommand(const std::string& name, const std::string& command, int fd) override;
  Status SetMetadata(const std::string& name, const std::string& xml) override;
  Status Destroy(const std::string& name) override;
  Status Suspend(const std::string& name) override;
  Status Resume(const std::string& name) override;
  Result<DomainState> State(const std::string& name) override;
  Result<std::vector<DomainInfo>> ListOurs() override;
  Status AttachDevice(const std::string& name, const std::string& xml) override;
  Status DetachDevice(const std::string& name, const std::string& xml) override;
  Status SetVcpuQuota(const std::string& name, int64_t period_us, int64_t quota_us) override;

 private:
  void Watch();  // reaps agents; a dead one is a stopped domain
  void Remove(const std::shared_ptr<Domain>& d);
  std::shared_ptr<Domain> Find(const std::string& name);

  std::string agent_bin_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Domain>> domains_;
  std::vector<std::string> definitions_;
  std::map<std::string, int> calls_;
  EventHandler on_event_;
  std::function<void()> on_reconnect_;
  std::atomic<bool> away_{false};
  std::atomic<bool> stop_{false};
  std::thread watcher_;
};

}  // namespace zunvm::libvirt
