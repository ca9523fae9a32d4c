// The operations and events of the agent protocol as types (docs/agent-protocol.md): one
// struct per operation with its Request and Response, one per event. Both sides use them: the
// host's AgentClient::Call<Op> sends a Request and returns the Response; the guest's server
// registers a handler per operation (agent/guest/server.cc) that gets the Request and returns
// the Response. Each type's JSON mapping and its checks live here (ops.cc), once:
//   nlohmann::json ToJson() const;  static Result<T> FromJson(const nlohmann::json&);
// A `data` member is the message's binary attachment (stream bytes, file chunks): it travels
// raw beside the JSON, never inside it (agent/protocol/message.h).
//
// Parsing treats the peer as hostile: wrong types, out-of-range numbers, NUL in strings and
// oversized lists are InvalidArgument naming the operation and the field.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/root_files.h"
#include "common/status.h"

namespace zunvm::agent::op {

// For operations whose request or response carries nothing.
struct Empty {
  nlohmann::json ToJson() const { return nlohmann::json::object(); }
  static Result<Empty> FromJson(const nlohmann::json&) { return Empty{}; }
};

// ---- handshake and acknowledgements -----------------------------------------------------------

struct Hello {
  static constexpr const char* kName = "hello";
  struct Request {
    int64_t version = 0;
    std::optional<uint64_t> ack;  // the last event the host has: later ones are replayed
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  struct Response {
    int64_t version = 0;
    std::string agent_version, boot_id, kernel;
    int64_t started_uptime_ms = 0, uptime_ms = 0;  // the guest's clock at agent start and now
    std::vector<std::string> capabilities;
    nlohmann::json ToJson() const;
    static Result<Response> FromJson(const nlohmann::json& j);
  };
};

struct Ack {
  static constexpr const char* kName = "ack";
  struct Request {
    uint64_t seq = 0;
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  using Response = Empty;
};

// ---- containers and processes -----------------------------------------------------------------

inline constexpr size_t kMaxVolumes = 16;
// Injected files travel in the create_container message (base64), which fits one frame.
inline constexpr size_t kMaxInjectBytes = size_t{1} << 20;

struct DiskRef {
  std::string serial;           // the virtio-blk serial the host gave the disk
  std::string fstype = "ext4";  // ext4, ext2 or xfs
  bool readonly = false;
};

// A volume: the disk with `disk.serial`, mounted in the guest (once per VM, at
// /run/zunvm/volumes/<serial>) and bind-mounted at `destination` in the container (a directory,
// made if missing; resolved inside the container root). `disk.readonly` mounts it read-only.
// `readonly` makes this bind read-only on a disk mounted read-write (containers of one pod
// share a disk, some of them read-only).
struct VolumeMount {
  DiskRef disk;
  std::string destination;
  bool readonly = false;
};

// A file written into the container root at `destination` before its init runs (file
// injection: Zun's `type=bind` mounts). Resolved inside the root; parents are made; an existing
// symlink or directory at `destination` is refused.
struct InjectedFile {
  std::string destination;
  std::string content;  // raw bytes (base64 on the wire)
};

struct CreateContainer {
  static constexpr const char* kName = "create_container";
  struct Request {
    std::string id;
    std::string rootfs;                  // a directory; or:
    std::optional<DiskRef> rootfs_disk;  // the root on a disk (+ upper_disk: an overlay)
    std::optional<DiskRef> upper_disk;
    std::vector<VolumeMount> volumes;    // at most kMaxVolumes
    std::vector<InjectedFile> files;     // at most kMaxVolumes, kMaxInjectBytes in all
    std::vector<std::string> argv, env;  // env: KEY=VALUE
    std::string cwd = "/";
    int64_t uid = 0, gid = 0;
    std::string hostname, hosts, resolv_conf;  // "" keeps the image's files
    std::map<std::string, uint64_t> rlimits;
    std::optional<int64_t> memory_bytes;
    std::optional<double> cpus;
    bool tty = false, stdin = false, privileged = false;
    // The container's OCI runtime-spec config.json (driver/oci/oci_spec.h), which zunvmd writes
    // for every container: when present, the agent takes the process (args, env, cwd, user,
    // rlimits, capabilities, no_new_privileges), hostname, resources and security from it, and
    // the fields above that say the same are only for agents that predate it. Its root and
    // mounts are the disks above. Null: absent.
    nlohmann::json oci;
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  struct Response {
    int64_t pid = 0;
    nlohmann::json ToJson() const;
    static Result<Response> FromJson(const nlohmann::json& j);
  };
};

struct StartContainer {
  static constexpr const char* kName = "start_container";
  struct Request {
    std::string id;
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  using Response = Empty;
};

struct Exec {
  static constexpr const char* kName = "exec";
  struct Request {
    std::string exec_id;
    std::vector<std::string> argv, env;
    std::string cwd;
    bool tty = false, stdin = false;
    std::string container;  // empty: in the guest itself
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  using Response = CreateContainer::Response;  // {pid}
};

// How a process ended; the `exit` event and `wait` say it the same way.
struct ExitStatus {
  std::string exec_id;
  int64_t exit_code = 0;
  int64_t signal = 0;  // the signal that killed it, 0 when it exited
  nlohmann::json ToJson() const;
  static Result<ExitStatus> FromJson(const nlohmann::json& j);
};

struct Wait {
  static constexpr const char* kName = "wait";
  struct Request {
    std::string exec_id;
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  using Response = ExitStatus;
};

struct Signal {
  static constexpr const char* kName = "signal";
  struct Request {
    std::string exec_id;  // a container's id is its init
    int64_t signal = 0;   // 1..64
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  using Response = Empty;
};

// Bytes for a process's stdin (the attachment); answered once written to its pipe or pty, so
// a writer has at most its outstanding requests in flight (the stdin direction's flow control).
struct WriteStdin {
  static constexpr const char* kName = "write_stdin";
  struct Request {
    std::string exec_id;
    std::string data;
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  using Response = Empty;
};

struct CloseStdin {
  static constexpr const char* kName = "close_stdin";
  using Request = Wait::Request;  // {exec_id}
  using Response = Empty;
};

struct ResizeTty {
  static constexpr const char* kName = "resize_tty";
  struct Request {
    std::string exec_id;
    int64_t width = 0, height = 0;  // 1..10000
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  using Response = Empty;
};

struct Processes {
  static constexpr const char* kName = "processes";
  using Request = Empty;
  struct Response {
    std::vector<std::string> titles;
    std::vector<std::vector<std::string>> processes;  // docker-style rows
    std::map<std::string, int64_t> execs;             // exec id -> pid
    nlohmann::json ToJson() const;
    static Result<Response> FromJson(const nlohmann::json& j);
  };
};

struct Stats {
  static constexpr const char* kName = "stats";
  using Request = Empty;
  struct Response {
    uint64_t cpu_usage_usec = 0, mem_total_bytes = 0, mem_used_bytes = 0;
    uint64_t block_read_bytes = 0, block_write_bytes = 0, net_rx_bytes = 0, net_tx_bytes = 0;
    nlohmann::json ToJson() const;
    static Result<Response> FromJson(const nlohmann::json& j);
  };
};

struct Update {
  static constexpr const char* kName = "update";
  struct Request {
    std::string id;
    std::optional<int64_t> memory_bytes;  // >= 4 MiB
    std::optional<double> cpus;           // > 0
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  using Response = Empty;
};

// Pause/unpause: the container's cgroup frozen or thawed (cgroup v2 cgroup.freeze).
struct Freeze {
  static constexpr const char* kName = "freeze";
  struct Request {
    std::string id;
    bool frozen = false;
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  using Response = Empty;
};

// ---- files: archives through named blobs, moved in attachment chunks --------------------------

inline constexpr size_t kMaxBlobChunk = size_t{1} << 20;  // one blob_put / blob_get

struct BlobPut {
  static constexpr const char* kName = "blob_put";
  struct Request {
    std::string blob;
    uint64_t offset = 0;  // 0 starts the blob, else its current size
    std::string data;     // at most kMaxBlobChunk
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  struct Response {
    uint64_t size = 0;
    nlohmann::json ToJson() const;
    static Result<Response> FromJson(const nlohmann::json& j);
  };
};

struct BlobGet {
  static constexpr const char* kName = "blob_get";
  struct Request {
    std::string blob;
    uint64_t offset = 0, length = kMaxBlobChunk;
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  struct Response {
    uint64_t size = 0;  // of the whole blob
    bool eof = false;
    std::string data;   // the chunk
    nlohmann::json ToJson() const;
    static Result<Response> FromJson(const nlohmann::json& j);
  };
};

struct BlobDrop {
  static constexpr const char* kName = "blob_drop";
  struct Request {
    std::string blob;
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  using Response = Empty;
};

using PathStat = rootfiles::PathStat;

struct CopyOut {
  static constexpr const char* kName = "copy_out";
  struct Request {
    std::string container, path, blob;  // the archive goes into `blob`
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  struct Response {
    uint64_t size = 0;
    PathStat stat;
    nlohmann::json ToJson() const;
    static Result<Response> FromJson(const nlohmann::json& j);
  };
};

struct CopyIn {
  static constexpr const char* kName = "copy_in";
  using Request = CopyOut::Request;  // `blob` holds the archive (consumed); `path` a directory
  using Response = Empty;
};

// ---- the guest ---------------------------------------------------------------------------------

struct ConfigureNetwork {
  static constexpr const char* kName = "configure_network";
  struct Nic {
    std::string mac, cidr;
    int64_t mtu = 0;  // 0: the guest's default
  };
  struct Request {
    std::vector<Nic> nics;  // at most 16; each found by its MAC
    std::string gateway;    // the default route, if any
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  struct Response {
    std::vector<std::string> interfaces;  // names, in order
    nlohmann::json ToJson() const;
    static Result<Response> FromJson(const nlohmann::json& j);
  };
};

struct GuestDetails {
  static constexpr const char* kName = "guest_details";
  using Request = Empty;
  struct Response {
    std::string kernel, agent_version;
    nlohmann::json ToJson() const;
    static Result<Response> FromJson(const nlohmann::json& j);
  };
};

// A VM started as a copy of a template (driver/libvirt/pool.h) must not share its template's
// secrets: the host sends fresh entropy (credited to the guest's pool, which is then reseeded
// at once), the wall clock, and a new boot id for the agent's events. Once per clone, before
// its first container.
struct Identity {
  static constexpr const char* kName = "identity";
  struct Request {
    std::string entropy_hex;  // 32..512 random bytes, hex
    int64_t realtime_ns = 0;  // the host's CLOCK_REALTIME
    std::string boot_id;      // 1..64 bytes
    nlohmann::json ToJson() const;
    static Result<Request> FromJson(const nlohmann::json& j);
  };
  using Response = Empty;
};

struct Shutdown {
  static constexpr const char* kName = "shutdown";
  using Request = Empty;
  using Response = Empty;
};

// ---- events (guest -> host; `seq` numbers them for acknowledgement and replay) -----------------

// Flow control of output: the agent has at most this many bytes of one process's output
// unacknowledged (sent or queued); past it the process's pipes are not read until `ack`s come.
inline constexpr size_t kOutputWindow = size_t{1} << 20;

struct OutputEvent {
  static constexpr const char* kName = "output";
  std::string exec_id;
  int stream = 1;         // 1 stdout, 2 stderr
  std::string boot;       // the agent's boot id: with seq, names the chunk across host restarts
  uint64_t seq = 0;
  std::string data;       // the bytes (the attachment)
  nlohmann::json ToJson() const;
  static Result<OutputEvent> FromJson(const nlohmann::json& j);
};

struct ExitEvent {
  static constexpr const char* kName = "exit";
  ExitStatus status;      // after all of the process's output
  uint64_t seq = 0;
  nlohmann::json ToJson() const;
  static Result<ExitEvent> FromJson(const nlohmann::json& j);
};

struct OomEvent {
  static constexpr const char* kName = "oom";
  std::string container;
  uint64_t oom_kills = 0;
  uint64_t seq = 0;
  nlohmann::json ToJson() const;
  static Result<OomEvent> FromJson(const nlohmann::json& j);
};

}  // namespace zunvm::agent::op
