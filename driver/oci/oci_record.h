// The OCI driver's durable record of one sandbox: <state_dir>/oci/<uuid>/sandbox.json, written
// whole (common/durable_file.h) on every state change, so a zunvmd killed at any point finds
// each sandbox's spec, its current run and whether that run's exit was reported.
// Pure data and file functions; the driver serialises the writers of one record.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "driver/driver.h"

namespace zunvm::oci {

// kCreating while Create runs (a crash leaves it to be removed); kRunning from a Start until
// its run's exit is known (the runtime tells running from paused); kStopped after it.
enum class OciState { kCreating, kCreated, kRunning, kStopped };

struct OciRecord {
  SandboxSpec spec;
  OciState state = OciState::kCreating;
  std::string run;                 // the current run's id (its output's mark); "" before a start
  std::optional<int> exit_code;    // the last run's, once it ended
  bool exit_reported = false;      // OnExit was sent (or is not due: Stop, Delete)
};

Status SaveOciRecord(const std::string& path, const OciRecord& r);
// NotFound when there is none; Internal for one that does not parse.
Result<OciRecord> LoadOciRecord(const std::string& path);

}  // namespace zunvm::oci
