// OciDriver: the SandboxDriver of runtimes of type oci (common/runtime_config.h): a trusted
// container runs as host processes under runc or crun, with conmon as its monitor
// (driver/oci/monitor.h). Each sandbox lives in <state_dir>/oci/<uuid>/:
//   sandbox.json  the durable record (oci_record.h), rewritten on every state change
//   config.json   the OCI spec (oci_spec.h), rewritten from the record before every start
//   lower/ upperdisk/ rootfs/   the root filesystem (rootfs.h): the image disk and the
//                 container's upper disk, as a VM would have them, merged by overlayfs
//   etc/          hostname, hosts and resolv.conf, bind-mounted over the image's
//   ctr.log, exit/, conmon.pid, ctl ...   conmon's files for the current run
// NICs are veths from the container's own network namespace (ContainerNetnsName) onto the
// network's bridge, as a VM's tap is.
//
// Life cycle: Create mounts the root and writes the bundle (no process yet). Start makes the
// runtime's container and starts it (a restart deletes the runtime's stopped one first, so
// each run is new on the same root). A watcher thread per run delivers the log and the exit.
//
// Output: every run has a mark (a random "run" id); what is delivered at once (consecutive
// chunks of one stream, up to 64 KiB) has the end offset of its last chunk as its seq. After a
// zunvmd restart the watcher reads that run's log from its start again, chunk by chunk up to
// where the log ended when zunvmd came back (all it can have delivered before), and the
// receiver drops every chunk whose end it has passed (service/log_store.h): exactly once.
//
// Threads: each sandbox has an operation mutex (one life-cycle call at a time) and a field
// mutex never held across a runtime command. Watchers call DriverEvents without either held.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "driver/driver.h"
#include "driver/oci/monitor.h"
#include "driver/oci/oci_record.h"
#include "network/host_network.h"

namespace zunvm::oci {

struct OciDriverOptions {
  std::string state_dir;                      // oci/ and oci-runtime/ are made under it
  std::map<std::string, OciRuntime> runtimes;  // by runtime name; each's root is set by the driver
  bool nat = false;                           // outbound NAT for the networks (as the VM path)
  // How often a watcher looks at its run's log and exit file.
  std::chrono::milliseconds poll{100};
};

class OciDriver : public SandboxDriver {
 public:
  OciDriver(OciDriverOptions opts, std::unique_ptr<HostNetwork> net);
  ~OciDriver() override;

  // Makes the state directories (the sandboxes' root a private mount), drops loop devices no
  // mount uses, and adopts the sandboxes on disk: runs still going get a watcher again, runs
  // that ended meanwhile report their output and exit, half-made creates are removed.
  Status Init() override;
  std::string Name() const override { return "oci"; }
  std::vector<std::string> Runtimes() const override;
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

  // The sandbox's directory (the bundle): for tests.
  std::string SandboxDir(const std::string& uuid) const;

 // A sandbox's state (oci_driver_internal.h); public for the driver's own files' helpers.
  struct Box;

 private:
  Result<std::shared_ptr<Box>> Find(const std::string& uuid);
  Result<const OciRuntime*> RuntimeOf(const OciRecord& rec) const;
  // Runs `fn` on the sandbox and its runtime with the sandbox's operation mutex held.
  Status Locked(const std::string& uuid,
                const std::function<Status(const std::shared_ptr<Box>&, const OciRuntime&)>& fn);
  // The sandbox and its runtime when its run is going (Conflict otherwise); no mutex held.
  Result<std::pair<std::shared_ptr<Box>, const OciRuntime*>> Running(const std::string& uuid, bool allow_paused);
  // Start, Stop and Update, under the operation mutex.
  Status StartRun(const std::shared_ptr<Box>& b, const OciRuntime& rt);
  Result<int> StopRun(Box& b, const OciRuntime& rt, std::chrono::seconds timeout);
  Result<bool> UpdateRun(Box& b, const OciRuntime& rt, double cpu, int64_t memory_mib);
  Status Save(Box& b);  // caller holds b.mu
  // The bundle's config.json from the record (root, NICs' namespace, cgroup, etc files).
  Status WriteBundle(Box& b);
  // Plugs the record's NICs (idempotent): the container's namespace and veths.
  Status PlugNics(const SandboxSpec& spec);
  Status PlugNic(const std::string& uuid, const SandboxNic& nic, size_t index);
  // Takes one NIC out: its host end (the veth's peer goes with it), and its OVS port.
  Status UnplugNic(const SandboxNic& nic);
  // Removes what Create made (the runtime's container, mounts, namespace, directory).
  Status Destroy(Box& b);
  // The state of the current run from the runtime and conmon's exit file.
  SandboxInfo InfoOf(Box& b);
  // Caller holds b.op: Conflict unless the run is going (running or paused).
  Status RequireRunning(Box& b, bool allow_paused);

  // The watcher (oci_watch.cc): started by Start and Init for the record's run; Quiesce makes
  // it drain the log and end without reporting the exit (Stop, Delete); JoinWatcher waits.
  // `replay_until`: the log's size when zunvmd came back (0 for a new run): see WatchRun.
  void StartWatcher(const std::shared_ptr<Box>& b, uint64_t replay_until = 0);
  void Quiesce(Box& b);
  void JoinWatcher(Box& b);
  void WatchRun(std::shared_ptr<Box> b, std::string run, uint64_t replay_until);

  OciDriverOptions opts_;
  std::unique_ptr<HostNetwork> net_;
  DriverEvents* events_ = nullptr;
  // Each running container's cgroup for the sandbox gauges (driver/sandbox_usage.h).
  void CollectMetrics(metrics::GaugeWriter& w);

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Box>> boxes_;
  metrics::CollectorHandle collector_;  // last: removed before what it reads goes
};

}  // namespace zunvm::oci
