// Capsules (Zun's pods): several containers in one sandbox (one VM), sharing its network and
// its volumes, each with its own root filesystem, PID namespace and logs. The members are
// Container records (Container::capsule_id names their capsule); the capsule record holds
// what is the capsule's own: name, labels, restart policy, size, volumes and addresses.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/timefmt.h"
#include "model/container.h"

namespace zunvm {

// One entry of the template's spec.volumes. zunvmd's volumes stand in for Cinder's: `cinder:
// {volumeID}` names an existing volume (by uuid), `cinder: {size}` makes one of that many GiB,
// removed with the capsule when `autoRemove`.
// Through Zun, a Cinder volume comes as the host block device os-brick connected
// (`device_path`, `serial`: the Zun driver's `block_volumes`), handed to the VM as it is.
struct CapsuleVolume {
  std::string name;                 // what members' volumeMounts refer to
  std::string volume_uuid;          // given (volumeID), or set when the volume is made
  std::optional<int64_t> size_gib;  // set: made for this capsule
  bool auto_remove = false;
  std::string device_path;          // a host block device (then volume_uuid is Cinder's)
  std::string serial;
  std::string fstype;               // what the block device holds (found at create)
};

struct Capsule {
  int64_t id = 0;  // DB insertion order (the default sort key)
  std::string uuid;
  std::optional<std::string> name;  // metadata.name
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  ContainerStatus status = ContainerStatus::kCreating;
  std::optional<std::string> status_reason;
  std::optional<TaskState> task_state;
  // Zun's {"Name": no|always|on-failure, "MaximumRetryCount": "0"}; members get it too
  // (init containers: on-failure:10 under always).
  RestartPolicy restart_policy{"always", 0};
  double cpu = 0;      // the sum of the members' requests (at least the largest init's)
  int64_t memory = 0;  // MiB, likewise; rendered as a string
  std::vector<std::string> init_containers;  // member uuids, in the order they run
  std::vector<std::string> containers;       // member uuids, in template order
  std::vector<CapsuleVolume> volumes;
  nlohmann::json addresses = nlohmann::json::object();
  nlohmann::json requested_nets = nlohmann::json::array();  // the template's `nets`
  std::optional<std::string> availability_zone;
  std::optional<std::string> host;
  std::optional<std::string> container_id;  // the sandbox (VM) id
  std::string user_id;
  std::string project_id;
  TimePoint created_at{};
  std::optional<TimePoint> updated_at;
};

// What a create asks for: the capsule and its members as Container records (init containers
// first, then the regular ones, each in template order). Members carry capsule_id, their
// restart policy, and volume mounts of type kVolume whose `source` is a CapsuleVolume name.
struct CapsuleRequest {
  Capsule capsule;
  std::vector<Container> members;
};

}  // namespace zunvm
