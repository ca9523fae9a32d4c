// Hypervisor: the few domain operations the libvirt driver needs, behind one interface so the
// driver's logic does not depend on libvirt's C API. libvirt_hypervisor.* is the real one.
//
// Thread safety: every method may be called from any thread. Domain events are delivered on
// the implementation's own thread; the handler must only queue work.
// Errors: NotFound when the domain does not exist; Conflict when its state forbids the call;
// Unavailable when the hypervisor cannot be reached.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace zunvm::libvirt {

enum class DomainState { kRunning, kPaused, kShutoff, kOther };

struct DomainInfo {
  std::string name;
  std::string container_uuid;  // from our <metadata>; empty for an unclaimed pool member
  bool pool = false;           // a pool member (pool.h), claimed or not
  std::string instance;        // the owning zunvmd's instance id, from our <metadata>
  DomainState state = DomainState::kOther;
};

// A domain stopped (or crashed) outside our control: `reason` is for users.
struct DomainEvent {
  std::string name;
  bool stopped = false;  // the domain went away (any reason)
  std::string reason;
};

class Hypervisor {
 public:
  using EventHandler = std::function<void(const DomainEvent&)>;
  virtual ~Hypervisor() = default;
  // Must be called before Open().
  virtual void SetEventHandler(EventHandler h) = 0;
  // Called after each reconnect to the hypervisor (events may have been missed meanwhile).
  virtual void SetReconnectHandler(std::function<void()> h) = 0;
  virtual Status Open() = 0;
  // Starts a transient domain from its definition.
  virtual Status Create(const std::string& xml) = 0;
  // Starts a transient domain with its CPUs stopped (a clone waiting for its device state).
  virtual Status CreatePaused(const std::string& xml) = 0;
  // One QMP command on the domain's monitor, with `fd` (when >= 0) passed along for `getfd`;
  // the reply's JSON text. libvirt marks the domain tainted (docs/libvirt-driver.md).
  virtual Result<std::string> MonitorCommand(const std::string& name, const std::string& command, int fd) = 0;
  // Replaces our <metadata> element of a running domain (live only).
  virtual Status SetMetadata(const std::string& name, const std::string& xml) = 0;
  // Hard power-off; NotFound if it is already gone.
  virtual Status Destroy(const std::string& name) = 0;
  virtual Status Suspend(const std::string& name) = 0;
  virtual Status Resume(const std::string& name) = 0;
  virtual Result<DomainState> State(const std::string& name) = 0;
  // Domains with our name prefix and metadata (of any zunvmd instance on this hypervisor).
  virtual Result<std::vector<DomainInfo>> ListOurs() = 0;
  // Live per-vCPU CFS quota (0 = none) on a running domain.
  // Hot-plugs / unplugs a device (e.g. an <interface>) of a running domain (live only).
  virtual Status AttachDevice(const std::string& name, const std::string& xml) = 0;
  virtual Status DetachDevice(const std::string& name, const std::string& xml) = 0;
  virtual Status SetVcpuQuota(const std::string& name, int64_t period_us, int64_t quota_us) = 0;
};

}  // namespace zunvm::libvirt
