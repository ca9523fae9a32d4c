#include "model/container.h"

#include <array>
#include <utility>

namespace zunvm {

namespace {

// One table per enum: its values in order, each with Zun's (or Docker's) string.
template <typename E, size_t N>
using Names = std::array<std::pair<E, const char*>, N>;

constexpr Names<ContainerStatus, 12> kStatusNames{{
    {ContainerStatus::kCreating, "Creating"},     {ContainerStatus::kCreated, "Created"},
    {ContainerStatus::kRunning, "Running"},       {ContainerStatus::kStopped, "Stopped"},
    {ContainerStatus::kPaused, "Paused"},         {ContainerStatus::kRestarting, "Restarting"},
    {ContainerStatus::kRebuilding, "Rebuilding"}, {ContainerStatus::kDeleting, "Deleting"},
    {ContainerStatus::kDeleted, "Deleted"},       {ContainerStatus::kDead, "Dead"},
    {ContainerStatus::kError, "Error"},           {ContainerStatus::kUnknown, "Unknown"},
}};
constexpr Names<TaskState, 10> kTaskNames{{
    {TaskState::kImagePulling, "image_pulling"},    {TaskState::kCreating, "container_creating"},
    {TaskState::kStarting, "container_starting"},   {TaskState::kDeleting, "container_deleting"},
    {TaskState::kStopping, "container_stopping"},   {TaskState::kRebooting, "container_rebooting"},
    {TaskState::kPausing, "container_pausing"},     {TaskState::kUnpausing, "container_unpausing"},
    {TaskState::kKilling, "container_killing"},     {TaskState::kRebuilding, "container_rebuilding"},
}};
constexpr Names<Health, 3> kHealthNames{{
    {Health::kStarting, "starting"}, {Health::kHealthy, "healthy"}, {Health::kUnhealthy, "unhealthy"},
}};

constexpr Names<ContainerMount::Type, 3> kMountTypeNames{{
    {ContainerMount::Type::kVolume, "volume"}, {ContainerMount::Type::kBind, "bind"}, {ContainerMount::Type::kBlock, "block"},
}};

template <typename E, size_t N>
const char* NameOf(const Names<E, N>& names, E value) {
  for (const auto& [v, name] : names) {
    if (v == value) return name;
  }
  return "?";
}

template <typename E, size_t N>
std::optional<E> ValueOf(const Names<E, N>& names, std::string_view text) {
  for (const auto& [v, name] : names) {
    if (text == name) return v;
  }
  return std::nullopt;
}

}  // namespace

const char* ToString(ContainerStatus s) { return NameOf(kStatusNames, s); }
const char* ToString(TaskState t) { return NameOf(kTaskNames, t); }
const char* ToString(Health h) { return NameOf(kHealthNames, h); }
const char* ToString(ContainerMount::Type t) { return NameOf(kMountTypeNames, t); }
std::optional<ContainerMount::Type> ParseMountType(std::string_view text) { return ValueOf(kMountTypeNames, text); }
std::optional<ContainerStatus> ParseContainerStatus(std::string_view text) { return ValueOf(kStatusNames, text); }
std::optional<TaskState> ParseTaskState(std::string_view text) { return ValueOf(kTaskNames, text); }
std::optional<Health> ParseHealth(std::string_view text) { return ValueOf(kHealthNames, text); }

std::string Container::StatusDetail(TimePoint now) const {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  if (status == ContainerStatus::kRunning || status == ContainerStatus::kPaused) {
    TimePoint since = started_at.value_or(created_at);
    std::string s = "Up " + HumanDuration(duration_cast<seconds>(now - since));
    if (status == ContainerStatus::kPaused) s += " (paused)";
    else if (health) s += std::string(" (") + ToString(*health) + ")";  // as `docker ps` shows it
    return s;
  }
  if (status == ContainerStatus::kStopped) {
    if (!exit_code) return "Exited";
    TimePoint since = finished_at.value_or(created_at);
    return "Exited(" + std::to_string(*exit_code) + ") " +
           HumanDuration(duration_cast<seconds>(now - since)) + " ago";
  }
  if (status == ContainerStatus::kError && exit_code) {
    return "Exited(" + std::to_string(*exit_code) + ") (error)";
  }
  return ToString(status);
}

}  // namespace zunvm
