// The container record: what SQLite stores and the API renders. A plain value type; the
// ContainerService owns the authoritative copies (in SQLite) and hands out snapshots.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/timefmt.h"

namespace zunvm {

// Exact Zun status strings (consts.CONTAINER_STATUSES).
namespace status {
inline constexpr const char* kCreating = "Creating";
inline constexpr const char* kCreated = "Created";
inline constexpr const char* kRunning = "Running";
inline constexpr const char* kStopped = "Stopped";
inline constexpr const char* kPaused = "Paused";
inline constexpr const char* kRestarting = "Restarting";
inline constexpr const char* kRebuilding = "Rebuilding";
inline constexpr const char* kDeleting = "Deleting";
inline constexpr const char* kDeleted = "Deleted";
inline constexpr const char* kDead = "Dead";
inline constexpr const char* kError = "Error";
inline constexpr const char* kUnknown = "Unknown";
}  // namespace status

namespace task {
inline constexpr const char* kImagePulling = "image_pulling";
inline constexpr const char* kCreating = "container_creating";
inline constexpr const char* kStarting = "container_starting";
inline constexpr const char* kDeleting = "container_deleting";
inline constexpr const char* kStopping = "container_stopping";
inline constexpr const char* kRebooting = "container_rebooting";
inline constexpr const char* kPausing = "container_pausing";
inline constexpr const char* kUnpausing = "container_unpausing";
inline constexpr const char* kKilling = "container_killing";
inline constexpr const char* kRebuilding = "container_rebuilding";
}  // namespace task

struct RestartPolicy {
  std::string name;           // "", no, always, on-failure, unless-stopped
  int max_retry = 0;
};

struct Healthcheck {
  std::string test;
  int interval = 0, retries = 0, timeout = 0;
};

struct Container {
  int64_t id = 0;                   // DB insertion order (the default sort key)
  std::string uuid;
  std::string name;
  std::string image;
  std::optional<std::vector<std::string>> command;
  std::optional<std::vector<std::string>> entrypoint;
  std::string status = status::kCreating;
  std::optional<std::string> status_reason;
  std::optional<std::string> task_state;
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
  bool privileged = false;
  std::optional<Healthcheck> healthcheck;
  // Result of the healthcheck while Running: "starting", "healthy" or "unhealthy" (Docker's).
  std::optional<std::string> health;
  std::optional<std::string> registry_id;
  std::string user_id;
  std::string project_id;
  TimePoint created_at{};
  std::optional<TimePoint> updated_at;
  // Internal (never rendered as such).
  std::optional<std::string> container_id;     // backend sandbox id
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> finished_at;
  std::optional<int> exit_code;
  int restart_count = 0;
  bool manually_stopped = false;               // stop/kill by a user: no policy restart
  std::optional<std::string> availability_zone;

  // Docker-like text for `status_detail`: "Created", "Up 3 seconds", "Up 2 hours (paused)",
  // "Exited(1) 2 minutes ago", "Restarting"...
  std::string StatusDetail(TimePoint now) const;
};

// Serialisation of the whole record (the `data` column); unknown keys are ignored on read.
nlohmann::json ToStorageJson(const Container& c);
// Throws nlohmann::json exceptions on malformed input; callers at the DB edge catch them.
Container FromStorageJson(const nlohmann::json& j);

}  // namespace zunvm
