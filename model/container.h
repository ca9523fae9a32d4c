// The container record: what SQLite stores (db/container_codec.h) and the API renders
// (rest/views.h). A plain value type; the ContainerService owns the authoritative copies (in
// SQLite) and hands out snapshots.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/timefmt.h"

namespace zunvm {

// Zun's container statuses (consts.CONTAINER_STATUSES); ToString gives Zun's exact strings.
enum class ContainerStatus {
  kCreating, kCreated, kRunning, kStopped, kPaused, kRestarting, kRebuilding, kDeleting,
  kDeleted, kDead, kError, kUnknown,
};
// Zun's task states (consts.*ING task states) that zunvmd sets while an operation runs.
enum class TaskState {
  kImagePulling, kCreating, kStarting, kDeleting, kStopping, kRebooting, kPausing, kUnpausing,
  kKilling, kRebuilding,
};
// Docker's healthcheck results, shown in status_detail while Running.
enum class Health { kStarting, kHealthy, kUnhealthy };

const char* ToString(ContainerStatus s);
const char* ToString(TaskState t);
const char* ToString(Health h);
// Zun's strings back; nullopt for anything else.
std::optional<ContainerStatus> ParseContainerStatus(std::string_view text);
std::optional<TaskState> ParseTaskState(std::string_view text);
std::optional<Health> ParseHealth(std::string_view text);

struct RestartPolicy {
  std::string name;           // "", no, always, on-failure, unless-stopped
  int max_retry = 0;
};

struct Healthcheck {
  std::string test;
  int interval = 0, retries = 0, timeout = 0;
};

// One of a container's `mounts` (Zun's, microversion 1.11+), as resolved at create:
//  - kVolume: a zunvmd volume (by `source` name or uuid, or a new one of `size_gib` that is
//    removed with the container: `auto_remove`) at `destination`;
//  - kBind: file injection, `content` written at `destination` before the init runs;
//  - kBlock: a host block device (`source`, the Zun driver's Cinder volumes), found in the
//    guest by `serial`.
struct ContainerMount {
  enum class Type { kVolume, kBind, kBlock };
  Type type = Type::kVolume;
  std::string source;
  std::string volume_uuid;
  std::optional<int64_t> size_gib;
  std::string destination;
  bool read_only = false;
  bool auto_remove = false;
  std::string serial;
  std::string fstype;   // kBlock: what the device holds (ext4, ext2, xfs)
  std::string content;
};
const char* ToString(ContainerMount::Type t);
std::optional<ContainerMount::Type> ParseMountType(std::string_view text);

struct Container {
  int64_t id = 0;                   // DB insertion order (the default sort key)
  // Not stored: set by the store when it reads the record, the same number exactly while the
  // stored record is unchanged (so a rendering of it can be reused); 0 when not read from it.
  uint64_t revision = 0;
  std::string uuid;
  std::string name;
  std::string image;
  std::optional<std::vector<std::string>> command;
  std::optional<std::vector<std::string>> entrypoint;
  ContainerStatus status = ContainerStatus::kCreating;
  std::optional<std::string> status_reason;
  std::optional<TaskState> task_state;
  double cpu = 1.0;
  int64_t memory = 512;             // MiB; rendered as a string
  std::optional<int64_t> disk;      // GiB
  std::optional<std::string> cpu_policy;
  std::map<std::string, std::string> environment;
  std::optional<std::string> workdir;
  std::map<std::string, std::string> labels;
  std::optional<std::string> hostname;
  std::vector<int> ports;                       // exposed ports (numbers)
  std::map<std::string, nlohmann::json> exposed_ports;  // {"80/tcp": {}}
  nlohmann::json addresses = nlohmann::json::object();
  nlohmann::json requested_nets = nlohmann::json::array();  // create's `nets`, as given
  // zunvm extension: where exposed ports are published while the container runs,
  // [{"port", "protocol", "host_ip", "host_port"}] (service/port_bindings.h).
  nlohmann::json published_ports = nlohmann::json::array();
  std::optional<std::string> host;
  RestartPolicy restart_policy;
  std::optional<std::string> image_pull_policy;
  std::optional<std::string> image_driver;
  bool interactive = false;
  bool tty = false;
  std::vector<std::string> security_groups;
  bool auto_remove = false;
  bool auto_heal = false;
  std::optional<std::string> runtime;
  // zunvm extension: the release of the guest kernel its VM booted (VM runtimes), e.g.
  // "6.1.192-zunvm"; unset until the sandbox exists and for runtimes without a guest.
  std::optional<std::string> guest_kernel;
  bool privileged = false;
  std::optional<Healthcheck> healthcheck;
  // Result of the healthcheck while Running (Docker's).
  std::optional<Health> health;
  std::optional<std::string> registry_id;
  std::string user_id;
  std::string project_id;
  TimePoint created_at{};
  std::optional<TimePoint> updated_at;
  std::vector<ContainerMount> mounts;
  // Internal (never rendered as such).
  std::optional<std::string> container_id;     // backend sandbox id
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> finished_at;
  std::optional<int> exit_code;
  int restart_count = 0;
  bool manually_stopped = false;               // stop/kill by a user: no policy restart
  // The image's Env: the process gets it under `environment` (which wins); the view shows
  // only `environment`, the caller's, as Zun does.
  std::map<std::string, std::string> image_environment;
  std::optional<std::string> availability_zone;
  // A capsule's member (model/capsule.h): the capsule's uuid; `init_container` for its
  // initContainers. Members live and die with their capsule.
  std::optional<std::string> capsule_id;
  bool init_container = false;

  // Docker-like text for `status_detail`: "Created", "Up 3 seconds", "Up 2 hours (paused)",
  // "Exited(1) 2 minutes ago", "Restarting"...
  std::string StatusDetail(TimePoint now) const;
};

// A listing of containers: records shared read-only (with the store's cache of parsed rows).
using ContainerList = std::vector<std::shared_ptr<const Container>>;

}  // namespace zunvm
