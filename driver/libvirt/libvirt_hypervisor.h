// LibvirtHypervisor: Hypervisor over libvirt's C API (one shared connection, reopened when
// libvirtd goes away). libvirt's default event loop is registered once per process before the
// first connection opens and runs on its own thread for the life of the process; lifecycle
// events and the connection's close callback arrive there.
//
// Thread safety: all methods are thread-safe. Domain calls hold no lock of ours (they take a
// referenced connection and go); only opening and reopening the connection happen under `mu_`.
// A watcher thread checks the connection every 500 ms and reopens it after libvirtd went away,
// then calls the reconnect handler (events are not delivered while disconnected).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "driver/libvirt/hypervisor.h"

namespace zunvm::libvirt {

// The Status of libvirt error `code` (a virErrorNumber) with `message`: NotFound (no such
// domain), Conflict (its state forbids the call), Unavailable (libvirtd cannot be reached, or
// `connection_alive` is false: the daemon went away during the call, whatever libvirt calls
// it), else Internal.
Status LibvirtErrorStatus(int code, const std::string& message, bool connection_alive);

class LibvirtHypervisor : public Hypervisor {
 public:
  explicit LibvirtHypervisor(std::string uri);
  ~LibvirtHypervisor() override;

  void SetEventHandler(EventHandler h) override { on_event_ = std::move(h); }
  void SetReconnectHandler(std::function<void()> h) override { on_reconnect_ = std::move(h); }
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

  // libvirt C callbacks (public for the trampolines only).
  void OnLifecycle(const std::string& name, int event, int detail);
  void OnClosed(int reason);

 private:
  struct Conn;  // a referenced virConnectPtr, released by its destructor
  Result<std::shared_ptr<Conn>> Connection();
  Status OpenLocked();
  void ReconnectLoop();
  template <typename Fn>
  Status WithDomain(const std::string& name, Fn fn);

  std::string uri_;
  EventHandler on_event_;
  std::function<void()> on_reconnect_;
  std::mutex mu_;              // guards conn_, callback_id_, reconnecting_, stopping_
  void* conn_ = nullptr;       // virConnectPtr
  int callback_id_ = -1;
  bool reconnecting_ = false;
  bool stopping_ = false;
  std::thread reconnector_;
};

}  // namespace zunvm::libvirt
