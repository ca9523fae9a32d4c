// Zun's allowed-state table (utils.VALID_STATES): which container statuses each operation
// accepts. A violation is a 409 "Cannot <op> container <uuid> in <status> state."
#pragma once

#include <string>

#include "common/status.h"
#include "model/container.h"

namespace zunvm {

// The operations the table knows; Name() is Zun's (the verb of the 409 message is it, with
// the three kinds of delete all saying "delete").
enum class Op {
  kStart, kStop, kPause, kUnpause, kKill, kReboot, kRebuild, kUpdate, kResizeContainer,
  kExecute, kExecuteResize, kAttach, kResize, kTop, kStats, kCommit, kGetArchive, kPutArchive,
  kLogs, kDelete, kDeleteStop, kDeleteForce, kAddSecurityGroup, kRemoveSecurityGroup,
  kNetworkAttach, kNetworkDetach,
};
const char* Name(Op op);

Status CheckAllowed(Op op, const std::string& uuid, ContainerStatus status);
bool IsAllowed(Op op, ContainerStatus status);

}  // namespace zunvm
