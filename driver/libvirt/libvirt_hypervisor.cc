#include "driver/libvirt/libvirt_hypervisor.h"

#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <chrono>
#include <condition_variable>
#include <utility>

#include "common/ids.h"
#include "common/logging.h"
#include "driver/libvirt/domain_xml.h"

namespace zunvm::libvirt {

namespace {

void NoopErrorHandler(void*, virErrorPtr) {}

// libvirt's default event loop: registered once, before any connection, and run forever.
void EnsureEventLoop() {
  static std::once_flag once;
  std::call_once(once, [] {
    virSetErrorFunc(nullptr, NoopErrorHandler);  // errors come back as values, not on stderr
    virEventRegisterDefaultImpl();
    std::thread([] {
      for (;;) {
        if (virEventRunDefaultImpl() < 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }).detach();
  });
}

// The last libvirt error of this thread: its code, and `what` with its message.
std::pair<int, std::string> TakeError(const std::string& what) {
  virErrorPtr e = virGetLastError();
  return {e ? e->code : VIR_ERR_INTERNAL_ERROR, what + ": " + (e && e->message ? e->message : "unknown libvirt error")};
}

// The last libvirt error of this thread as a Status. With the connection the call went
// through (`conn`, or `d`'s): an error on a connection no longer alive is libvirtd gone. The
// error is taken first: the liveness check resets it.
Status LastError(const std::string& what, virConnectPtr conn = nullptr) {
  auto [code, msg] = TakeError(what);
  return LibvirtErrorStatus(code, msg, !conn || virConnectIsAlive(conn) != 0);  // -1: cannot tell
}

Status LastError(const std::string& what, virDomainPtr d) {
  auto [code, msg] = TakeError(what);
  virConnectPtr conn = virDomainGetConnect(d);
  return LibvirtErrorStatus(code, msg, !conn || virConnectIsAlive(conn) != 0);
}

std::string StopReason(int detail) {
  switch (detail) {
    case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN: return "the guest shut down";
    case VIR_DOMAIN_EVENT_STOPPED_DESTROYED: return "the VM was destroyed";
    case VIR_DOMAIN_EVENT_STOPPED_CRASHED: return "the guest crashed";
    case VIR_DOMAIN_EVENT_STOPPED_FAILED: return "the VM's qemu process failed or was killed";
    default: return "the VM stopped (libvirt detail " + std::to_string(detail) + ")";
  }
}

int LifecycleTrampoline(virConnectPtr, virDomainPtr dom, int event, int detail, void* opaque) {
  const char* name = virDomainGetName(dom);
  static_cast<LibvirtHypervisor*>(opaque)->OnLifecycle(name ? name : "", event, detail);
  return 0;
}

void CloseTrampoline(virConnectPtr, int reason, void* opaque) {
  static_cast<LibvirtHypervisor*>(opaque)->OnClosed(reason);
}

struct DomainPtr {
  virDomainPtr p = nullptr;
  ~DomainPtr() {
    if (p) virDomainFree(p);
  }
};

}  // namespace

Status LibvirtErrorStatus(int code, const std::string& message, bool connection_alive) {
  // libvirt calls a call on a connection whose daemon went away an internal error ("client
  // socket is closed"): it is the daemon being away, like the codes below.
  if (!connection_alive) return Status::Unavailable(message + " (the connection to libvirt was lost)");
  switch (code) {
    case VIR_ERR_NO_DOMAIN: return Status::NotFound(message);
    case VIR_ERR_OPERATION_INVALID: return Status::Conflict(message);
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_INVALID_CONN:
    case VIR_ERR_RPC:
    case VIR_ERR_SYSTEM_ERROR:
    case VIR_ERR_AUTH_FAILED:
      return Status::Unavailable(message);
    default:
      return Status::Internal(message);
  }
}

struct LibvirtHypervisor::Conn {
  virConnectPtr c;
  explicit Conn(virConnectPtr conn) : c(conn) { virConnectRef(c); }
  ~Conn() { virConnectClose(c); }
};

LibvirtHypervisor::LibvirtHypervisor(std::string uri) : uri_(std::move(uri)) {}

LibvirtHypervisor::~LibvirtHypervisor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  if (reconnector_.joinable()) reconnector_.join();
  std::lock_guard<std::mutex> lock(mu_);
  if (conn_) {
    auto* c = static_cast<virConnectPtr>(conn_);
    if (callback_id_ >= 0) virConnectDomainEventDeregisterAny(c, callback_id_);
    virConnectUnregisterCloseCallback(c, CloseTrampoline);
    virConnectClose(c);
    conn_ = nullptr;
  }
}

Status LibvirtHypervisor::OpenLocked() {
  EnsureEventLoop();
  virConnectPtr c = virConnectOpen(uri_.c_str());
  if (!c) return LastError("cannot connect to libvirt at " + uri_);
  if (virConnectSetKeepAlive(c, 5, 3) < 0) {
    Logger("libvirt")->debug("keepalive not supported on {}", uri_);
  }
  virConnectRegisterCloseCallback(c, CloseTrampoline, this, nullptr);
  callback_id_ = virConnectDomainEventRegisterAny(c, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                  VIR_DOMAIN_EVENT_CALLBACK(LifecycleTrampoline),
                                                  this, nullptr);
  if (callback_id_ < 0) {
    Status st = LastError("cannot register for domain events");
    virConnectUnregisterCloseCallback(c, CloseTrampoline);
    virConnectClose(c);
    return st;
  }
  conn_ = c;
  return Status::Ok();
}

Status LibvirtHypervisor::Open() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ZUNVM_RETURN_IF_ERROR(OpenLocked());
  }
  reconnector_ = std::thread([this] { ReconnectLoop(); });
  return Status::Ok();
}

// Watches the connection once a second and reopens it after libvirtd went away.
void LibvirtHypervisor::ReconnectLoop() {
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    bool reopened = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      auto* c = static_cast<virConnectPtr>(conn_);
      if (c && virConnectIsAlive(c) == 1) continue;
      if (c) {
        Logger("libvirt")->warn("lost the connection to libvirt; reconnecting");
        virConnectDomainEventDeregisterAny(c, callback_id_);
        virConnectUnregisterCloseCallback(c, CloseTrampoline);
        virConnectClose(c);
        conn_ = nullptr;
        callback_id_ = -1;
      }
      reopened = OpenLocked().ok();
    }
    if (reopened) {
      Logger("libvirt")->info("reconnected to libvirt at {}", uri_);
      if (on_reconnect_) on_reconnect_();
    }
  }
}

void LibvirtHypervisor::OnClosed(int reason) {
  Logger("libvirt")->warn("libvirt connection closed (reason {})", reason);
}

void LibvirtHypervisor::OnLifecycle(const std::string& name, int event, int detail) {
  if (name.rfind(kDomainPrefix, 0) != 0 || !on_event_) return;
  if (event == VIR_DOMAIN_EVENT_STOPPED) {
    on_event_(DomainEvent{name, true, StopReason(detail)});
  } else if (event == VIR_DOMAIN_EVENT_CRASHED) {
    on_event_(DomainEvent{name, false, "the guest crashed"});
  }
}

Result<std::shared_ptr<LibvirtHypervisor::Conn>> LibvirtHypervisor::Connection() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!conn_) return Err(Status::Unavailable("not connected to libvirt at " + uri_));
  return std::make_shared<Conn>(static_cast<virConnectPtr>(conn_));
}

template <typename Fn>
Status LibvirtHypervisor::WithDomain(const std::string& name, Fn fn) {
  auto conn = Connection();
  if (!conn) return conn.error();
  DomainPtr d{virDomainLookupByName((*conn)->c, name.c_str())};
  if (!d.p) return LastError("domain " + name, (*conn)->c);
  return fn(d.p);
}

Status LibvirtHypervisor::Create(const std::string& xml) {
  auto conn = Connection();
  if (!conn) return conn.error();
  DomainPtr d{virDomainCreateXML((*conn)->c, xml.c_str(), VIR_DOMAIN_NONE)};
  if (!d.p) return LastError("cannot start the VM", (*conn)->c);
  return Status::Ok();
}

Status LibvirtHypervisor::CreatePaused(const std::string& xml) {
  auto conn = Connection();
  if (!conn) return conn.error();
  DomainPtr d{virDomainCreateXML((*conn)->c, xml.c_str(), VIR_DOMAIN_START_PAUSED)};
  if (!d.p) return LastError("cannot start the VM", (*conn)->c);
  return Status::Ok();
}

Result<std::string> LibvirtHypervisor::MonitorCommand(const std::string& name, const std::string& command, int fd) {
  std::string reply;
  Status st = WithDomain(name, [&](virDomainPtr d) {
    char* out = nullptr;
    int fds[1] = {fd};
    int rc = virDomainQemuMonitorCommandWithFiles(d, command.c_str(), fd >= 0 ? 1 : 0, fd >= 0 ? fds : nullptr,
                                                  nullptr, nullptr, &out, 0);
    if (rc < 0) return LastError("qemu monitor of " + name, d);
    reply = out ? out : "";
    free(out);
    return Status::Ok();
  });
  if (!st.ok()) return Err(st);
  return reply;
}

Status LibvirtHypervisor::SetMetadata(const std::string& name, const std::string& xml) {
  return WithDomain(name, [&](virDomainPtr d) {
    return virDomainSetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, xml.c_str(), kMetadataPrefix, kMetadataNs,
                                VIR_DOMAIN_AFFECT_LIVE) == 0
               ? Status::Ok()
               : LastError("cannot set the metadata of " + name, d);
  });
}

Status LibvirtHypervisor::Destroy(const std::string& name) {
  return WithDomain(name, [&](virDomainPtr d) {
    return virDomainDestroy(d) == 0 ? Status::Ok() : LastError("cannot destroy " + name, d);
  });
}

Status LibvirtHypervisor::Suspend(const std::string& name) {
  return WithDomain(name, [&](virDomainPtr d) {
    return virDomainSuspend(d) == 0 ? Status::Ok() : LastError("cannot pause " + name, d);
  });
}

Status LibvirtHypervisor::Resume(const std::string& name) {
  return WithDomain(name, [&](virDomainPtr d) {
    return virDomainResume(d) == 0 ? Status::Ok() : LastError("cannot resume " + name, d);
  });
}

Status LibvirtHypervisor::AttachDevice(const std::string& name, const std::string& xml) {
  return WithDomain(name, [&](virDomainPtr d) {
    return virDomainAttachDeviceFlags(d, xml.c_str(), VIR_DOMAIN_AFFECT_LIVE) == 0
               ? Status::Ok()
               : LastError("cannot attach a device to " + name, d);
  });
}

Status LibvirtHypervisor::DetachDevice(const std::string& name, const std::string& xml) {
  return WithDomain(name, [&](virDomainPtr d) {
    return virDomainDetachDeviceFlags(d, xml.c_str(), VIR_DOMAIN_AFFECT_LIVE) == 0
               ? Status::Ok()
               : LastError("cannot detach a device from " + name, d);
  });
}

namespace {
DomainState MapState(int s) {
  switch (s) {
    case VIR_DOMAIN_RUNNING: return DomainState::kRunning;
    case VIR_DOMAIN_PAUSED: return DomainState::kPaused;
    case VIR_DOMAIN_SHUTOFF:
    case VIR_DOMAIN_CRASHED: return DomainState::kShutoff;
    default: return DomainState::kOther;
  }
}
}  // namespace

Result<DomainState> LibvirtHypervisor::State(const std::string& name) {
  DomainState out = DomainState::kOther;
  Status st = WithDomain(name, [&](virDomainPtr d) {
    int state = 0, reason = 0;
    if (virDomainGetState(d, &state, &reason, 0) < 0) return LastError("state of " + name, d);
    out = MapState(state);
    return Status::Ok();
  });
  if (!st.ok()) return Err(st);
  return out;
}

Result<std::vector<DomainInfo>> LibvirtHypervisor::ListOurs() {
  auto conn = Connection();
  if (!conn) return Err(conn.error());
  virDomainPtr* doms = nullptr;
  int n = virConnectListAllDomains((*conn)->c, &doms, 0);
  if (n < 0) return Err(LastError("cannot list domains", (*conn)->c));
  std::vector<DomainInfo> out;
  for (int i = 0; i < n; ++i) {
    DomainPtr d{doms[i]};
    const char* name = virDomainGetName(d.p);
    if (!name || std::string(name).rfind(kDomainPrefix, 0) != 0) continue;
    char* meta = virDomainGetMetadata(d.p, VIR_DOMAIN_METADATA_ELEMENT, kMetadataNs, 0);
    if (!meta) continue;  // a domain with our prefix but not our metadata is not ours
    std::string m(meta);
    free(meta);
    // libvirt hands the element back without our prefix: <sandbox><container>UUID</container>.
    auto text = [&](const std::string& tag) {
      std::string open = "<" + tag + ">";
      size_t a = m.find(open);
      size_t b = a == std::string::npos ? a : m.find('<', a + open.size());
      return b == std::string::npos ? std::string() : m.substr(a + open.size(), b - a - open.size());
    };
    std::string uuid = text("container");
    bool pool = std::string(name).rfind(kPoolDomainPrefix, 0) == 0 && text("pool") == "1";
    // A container's domain is named after it; a pool member has its own name and no container
    // until one claims it.
    if (pool ? !uuid.empty() && !IsUuidLike(uuid) : !IsUuidLike(uuid) || name != DomainName(uuid)) continue;
    int state = 0, reason = 0;
    if (virDomainGetState(d.p, &state, &reason, 0) < 0) continue;
    out.push_back(DomainInfo{name, uuid, pool, text("instance"), MapState(state)});
  }
  free(doms);
  return out;
}

Status LibvirtHypervisor::SetVcpuQuota(const std::string& name, int64_t period_us, int64_t quota_us) {
  return WithDomain(name, [&](virDomainPtr d) {
    virTypedParameterPtr params = nullptr;
    int n = 0, max = 0;
    virTypedParamsAddULLong(&params, &n, &max, VIR_DOMAIN_SCHEDULER_VCPU_PERIOD,
                            static_cast<unsigned long long>(period_us));
    // -1 (any negative) removes the quota.
    virTypedParamsAddLLong(&params, &n, &max, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA,
                           quota_us > 0 ? quota_us : -1);
    int rc = virDomainSetSchedulerParametersFlags(d, params, n, VIR_DOMAIN_AFFECT_LIVE);
    virTypedParamsFree(params, n);
    return rc == 0 ? Status::Ok() : LastError("cannot set the cpu quota of " + name, d);
  });
}

}  // namespace zunvm::libvirt
