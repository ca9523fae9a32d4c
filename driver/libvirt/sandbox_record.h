// The libvirt driver's durable record of one sandbox: <state_dir>/sandboxes/<uuid>/sandbox.json,
// written atomically (temp file, fsync, rename) on every state change, so a zunvmd killed at any
// point finds each sandbox's spec and last known state on its next start.
// Pure data and file functions; not thread-safe per record (the driver serialises writers).
#pragma once

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "driver/driver.h"

namespace zunvm::libvirt {

// "creating" while a create is in flight (a crash leaves a sandbox to clean up).
enum class RecordState { kCreating, kCreated, kRunning, kPaused, kStopped };

// A pod member's state (its spec is in the pod's spec).
struct MemberRecord {
  RecordState state = RecordState::kCreated;
  std::optional<int> exit_code;
};

struct SandboxRecord {
  SandboxSpec spec;
  RecordState state = RecordState::kCreating;
  std::optional<int> exit_code;
  // The VM's libvirt domain when it is not zunvm-<uuid>: a pool member the sandbox claimed.
  std::string domain;
  nlohmann::json boot = nlohmann::json::object();  // timings of the last boot (seconds)
  std::map<std::string, MemberRecord> members;      // a pod's, by member uuid
};

const char* RecordStateName(RecordState s);
Status SaveRecord(const std::string& path, const SandboxRecord& r);
Result<SandboxRecord> LoadRecord(const std::string& path);

}  // namespace zunvm::libvirt
