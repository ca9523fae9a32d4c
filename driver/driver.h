// SandboxDriver: the one interface between the service layer and whatever runs a container's
// sandbox. driver/libvirt/ boots one VM per sandbox; tests/fakes/ holds a fake for tests.
// Nothing in rest/ or service/ may know which implementation runs.
//
// Identity: a sandbox is keyed by the container uuid the service gives it.
//
// Thread safety: every method may be called from any thread, concurrently for different
// sandboxes. The service serialises mutating calls per sandbox (one at a time per uuid);
// read-only calls (Inspect, Top, Stats, Exec, archives) may overlap with them.
//
// Events: output of the container's main process and its exit are delivered to the
// DriverEvents sink from a driver-owned thread, never from inside a call into the driver.
// The sink must not call back into the driver synchronously.
//
// Errors: NotFound when the sandbox does not exist; Conflict when its state forbids the
// operation; DeadlineExceeded when an exec runs past its timeout; Unavailable when the
// backend cannot be reached. Messages are meant for API users.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/results.h"

namespace zunvm {

// One NIC of a sandbox. On one of zunvmd's networks (network/host_network.h): the tap is
// TapName(port_id), on the bridge of namespace `netns`. A Neutron port (OpenStack mode) has
// `ovs_bridge` set and no `netns`: it is plugged into that Open vSwitch bridge with the port id
// as the interface id, and Neutron owns its address.
struct SandboxNic {
  std::string port_id;
  std::string network_uuid;  // zunvmd's network, or the Neutron network
  std::string netns;
  std::string mac;       // 52:54:00:xx:xx:xx (Neutron: fa:16:3e:xx:xx:xx)
  std::string address;   // 10.88.0.2
  int prefix_len = 24;
  std::string gateway;   // the default route of the first NIC (may be empty for a Neutron port)
  int mtu = 1500;
  std::string ovs_bridge;                // Neutron port: the integration bridge
  std::string subnet_id;                 // Neutron port: its subnet (Zun's addresses)
  bool preserve_on_delete = false;       // Neutron port: the user's own, kept on delete
  std::vector<std::string> nameservers;  // Neutron port: its subnet's DNS servers
};

// A volume of a sandbox: a disk the driver hands to the sandbox (for a VM: virtio-blk with
// `serial`) and the sandbox mounts at `destination` in the container, before its init runs.
struct SandboxVolume {
  std::string path;         // a raw disk image file, or a host block device (`block`)
  bool block = false;
  std::string serial;       // 1..20 of [A-Za-z0-9._-]; unique within the sandbox
  std::string fstype = "ext4";
  std::string destination;  // absolute path in the container
  bool read_only = false;
};

// A file written into the container at `destination` before its init runs (file injection).
struct SandboxFile {
  std::string destination;
  std::string content;  // raw bytes
};

// What the service asks a driver to create. Argv is final (entrypoint + command).
struct SandboxSpec {
  std::string uuid;
  std::string name;
  std::string image;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string workdir;     // empty: image default ("/")
  std::string hostname;    // never empty
  std::string user;        // empty: root
  double cpu = 1.0;        // vCPUs, may be fractional
  int64_t memory_mib = 512;
  int64_t disk_gib = 0;    // 0: driver default
  bool tty = false;
  bool interactive = false;
  // All capabilities, no seccomp, every device of the guest (Docker's meaning); otherwise
  // Docker's default privileges inside the sandbox (docs/security.md).
  bool privileged = false;
  std::string runtime;     // e.g. "kata"
  std::map<std::string, std::string> labels;
  std::string image_disk;  // the image's shared read-only ext4 root disk (drivers that UsesImages())
  std::string upper_disk;  // this container's writable ext4 disk (overlay upper; kept across restarts)
  std::vector<SandboxNic> nics;  // drivers without networking ignore them
  std::string resolv_conf;       // the container's /etc/resolv.conf; empty keeps the image's
  std::vector<SandboxVolume> volumes;  // attached for the sandbox's whole life
  std::vector<SandboxFile> files;
  // A pod (a capsule): one sandbox whose `members` are its containers. The pod's own argv,
  // image and disks are empty; its cpu, memory, NICs, hostname and `volumes` (the disks; their
  // destinations unused) are the sandbox's. Each member is a container spec with its own uuid,
  // process, image_disk/upper_disk and limits; a member's `volumes` name a pod volume by
  // `serial` (path empty) with their own destination and read_only. Members share the pod's
  // network; each has its own root, mount and PID namespaces. After Create, the member uuids
  // are sandboxes of their own for Start/Stop/Kill/Pause/Exec/..., created (not started); a
  // member's exit never stops the pod, and a member's Start after its exit runs it again in the
  // same sandbox. Delete of the pod uuid removes it and every member; Delete of a member alone
  // is Conflict while its pod exists. Members have no NICs of their own (AttachNic: Conflict).
  std::vector<SandboxSpec> members;
};

enum class SandboxState { kCreated, kRunning, kPaused, kStopped };
inline const char* SandboxStateName(SandboxState s) {
  switch (s) {
    case SandboxState::kCreated: return "created";
    case SandboxState::kRunning: return "running";
    case SandboxState::kPaused: return "paused";
    case SandboxState::kStopped: return "stopped";
  }
  return "unknown";
}

struct SandboxInfo {
  std::string uuid;
  std::string sandbox_id;            // backend id (the container's `container_id`)
  SandboxState state = SandboxState::kCreated;
  std::optional<int> exit_code;      // set once the main process exited
  std::string hostname;
  std::string guest_kernel;          // a VM's guest kernel release (uname -r); "" for none
};

// Where a chunk of output sits in its sandbox's event stream: `boot` names one boot of the
// guest, `seq` orders chunks within it. A driver that can replay output after a restart (the
// libvirt one: the guest keeps unacknowledged events) sets it so the receiver can drop chunks
// it already stored; an empty `boot` means "no position, store unconditionally".
struct OutputMark {
  std::string boot;
  uint64_t seq = 0;
};

// The live end of one process's streams, for an interactive console (attach, exec -it): its
// output as it comes (stdout and stderr together; a tty has one stream), then OnClosed once,
// when the process exited (its code) or its sandbox stopped or went away (nullopt); nothing
// after it. Called on a driver thread, in order; must not block or call into the driver.
// Output reaches a sink at most once per chunk the guest produced while it was registered.
class ProcessSink {
 public:
  virtual ~ProcessSink() = default;
  virtual void OnOutput(const std::string& data) = 0;
  virtual void OnClosed(std::optional<int> exit_code) = 0;
};

// Receives asynchronous events. Implemented by the service layer.
class DriverEvents {
 public:
  virtual ~DriverEvents() = default;
  // A chunk of the main process's output; chunks of one stream arrive in order. A chunk with
  // a mark may arrive again after a daemon restart (at-least-once); its mark identifies it.
  virtual void OnOutput(const std::string& uuid, Stream stream, const std::string& data,
                        const OutputMark& mark) = 0;
  // The main process exited on its own or through Kill() (code is 128+signal when killed by a
  // signal). At most once per start. NOT sent for a process ended by Stop() (which returns
  // the code), Delete() or a restart inside Reboot: the service records those itself, and a
  // late event would otherwise be mistaken for the exit of the next start.
  virtual void OnExit(const std::string& uuid, int exit_code) = 0;
  // The sandbox disappeared or failed outside any call (e.g. its VM died).
  virtual void OnLost(const std::string& uuid, const std::string& reason) = 0;
};

class SandboxDriver {
 public:
  virtual ~SandboxDriver() = default;

  // Short name, e.g. "libvirt".
  virtual std::string Name() const = 0;
  // Whether sandboxes are made from images on this host: creates then pull the image if
  // needed (task_state image_pulling) and pass its root disk in SandboxSpec::image_disk.
  virtual bool UsesImages() const { return true; }
  // Runtimes this driver provides, reported in /v1/hosts (e.g. {"kata"}).
  virtual std::vector<std::string> Runtimes() const = 0;
  // Why this host cannot run `runtime` (configured, but e.g. its guest kernel or PCI device is
  // missing), or "" when it can or the driver does not know the name.
  virtual std::string RuntimeUnavailable(const std::string& /*runtime*/) const { return ""; }
  // Must be called once before any other call; the sink must outlive the driver.
  virtual void SetEvents(DriverEvents* events) = 0;
  // Connects to the backend and adopts the sandboxes it still has (events may flow from here
  // on). Called once, after SetEvents and before any other call.
  virtual Status Init() { return Status::Ok(); }

  // Creates the sandbox and its container (not started). AlreadyExists-like repeats are an
  // error (Conflict).
  virtual Result<SandboxInfo> Create(const SandboxSpec& spec) = 0;
  // Starts (or restarts from Stopped) the main process. Output and exit arrive as events.
  virtual Status Start(const std::string& uuid) = 0;
  // Stop, Kill and a forced Delete also apply to a paused sandbox (as in Docker).
  // SIGTERM, then SIGKILL after `timeout`; returns the exit code. Stopping a stopped sandbox
  // returns its last exit code.
  virtual Result<int> Stop(const std::string& uuid, std::chrono::seconds timeout) = 0;
  // Sends a signal to the main process. The exit (if any) arrives as an event.
  virtual Status Kill(const std::string& uuid, int signal) = 0;
  virtual Status Pause(const std::string& uuid) = 0;
  virtual Status Unpause(const std::string& uuid) = 0;
  // Removes the sandbox and everything it holds. NotFound is not an error here: deleting a
  // missing sandbox succeeds. `force` kills a running sandbox first.
  virtual Status Delete(const std::string& uuid, bool force) = 0;

  virtual Result<SandboxInfo> Inspect(const std::string& uuid) = 0;
  virtual Result<std::vector<SandboxInfo>> List() = 0;

  // Runs argv in the container and waits for it up to `timeout` (0: no waiting at all, so only
  // an instant command succeeds); past it DeadlineExceeded.
  virtual Result<ExecResult> Exec(const std::string& uuid, const std::vector<std::string>& argv,
                                  std::chrono::seconds timeout) = 0;
  virtual Status ResizeTty(const std::string& uuid, int width, int height) = 0;

  // Interactive processes (the console). A process is named by the id ExecInteractive returned,
  // or by "" for the container's main process.
  // Starts argv in the running container with stdin open and, when `tty`, a pty of
  // width x height (0: left as the guest makes it) that becomes its controlling terminal. Its
  // output and end go to `sink` only (not to the container's log). Returns the process id.
  virtual Result<std::string> ExecInteractive(const std::string& uuid, const std::vector<std::string>& argv,
                                              bool tty, int width, int height,
                                              std::shared_ptr<ProcessSink> sink) = 0;
  // Registers `sink` for the main process's output from now on (the log keeps getting it too)
  // and its end; returns a handle for Unwatch. Conflict unless the sandbox is running.
  virtual Result<uint64_t> Watch(const std::string& uuid, std::shared_ptr<ProcessSink> sink) = 0;
  // Drops a Watch (no OnClosed follows). Unknown handles are ignored.
  virtual void Unwatch(const std::string& uuid, uint64_t handle) = 0;
  // Writes to a process's stdin; returns once the guest has written it (so a writer has one
  // call in flight: the stdin direction's flow control). Conflict when its stdin is not open.
  virtual Status WriteStdin(const std::string& uuid, const std::string& process, const std::string& data) = 0;
  virtual Status CloseStdin(const std::string& uuid, const std::string& process) = 0;
  virtual Status ResizeProcess(const std::string& uuid, const std::string& process, int width, int height) = 0;
  virtual Result<TopResult> Top(const std::string& uuid, const std::string& ps_args) = 0;
  virtual Result<SandboxStats> Stats(const std::string& uuid) = 0;
  // Tar of `path` (file or directory) inside the container root. NotFound if it does not exist.
  virtual Result<Archive> GetArchive(const std::string& uuid, const std::string& path) = 0;
  // Extracts `tar` into directory `path` inside the container root (paths confined to it).
  virtual Status PutArchive(const std::string& uuid, const std::string& path,
                            const std::string& tar) = 0;
  // Applies new limits. Returns true when applied live, false when they apply at next start.
  virtual Result<bool> Update(const std::string& uuid, double cpu, int64_t memory_mib) = 0;
  // Snapshots the container filesystem to a local image; returns the new image id.
  virtual Result<std::string> Commit(const std::string& uuid, const std::string& repository,
                                     const std::string& tag) = 0;
  // Adds a NIC to the sandbox's spec and, when its VM runs, hot-plugs it and configures it in
  // the guest. Conflict when the port is already there; InvalidArgument for a bad NIC.
  virtual Status AttachNic(const std::string& uuid, const SandboxNic& nic) = 0;
  // Unplugs the NIC with `port_id` (live when running) and drops it from the spec; NotFound
  // when the sandbox has no such port.
  virtual Status DetachNic(const std::string& uuid, const std::string& port_id) = 0;
  // The port ids of the sandbox's NICs as its spec holds them (running or not); NotFound when
  // there is no such sandbox. Start-up reconciles them with the network store's ports.
  virtual Result<std::vector<std::string>> NicPorts(const std::string& uuid) = 0;
};

}  // namespace zunvm
