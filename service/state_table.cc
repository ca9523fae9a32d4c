#include "service/state_table.h"

#include <map>
#include <set>

namespace zunvm {

namespace {

using S = ContainerStatus;
using States = std::set<ContainerStatus>;

struct Rule {
  const char* name;
  States allowed;
};

const std::map<Op, Rule>& Table() {
  static const std::map<Op, Rule> table = {
      {Op::kStart, {"start", {S::kCreated, S::kStopped, S::kError}}},
      {Op::kStop, {"stop", {S::kRunning}}},
      {Op::kPause, {"pause", {S::kRunning}}},
      {Op::kKill, {"kill", {S::kRunning}}},
      {Op::kExecute, {"execute", {S::kRunning}}},
      {Op::kExecuteResize, {"execute_resize", {S::kRunning}}},
      {Op::kAttach, {"attach", {S::kRunning}}},
      {Op::kResize, {"resize", {S::kRunning}}},
      {Op::kTop, {"top", {S::kRunning}}},
      {Op::kStats, {"stats", {S::kRunning}}},
      {Op::kUnpause, {"unpause", {S::kPaused}}},
      {Op::kReboot, {"reboot", {S::kCreated, S::kRunning, S::kStopped, S::kError}}},
      {Op::kRebuild, {"rebuild", {S::kCreated, S::kRunning, S::kStopped, S::kError}}},
      {Op::kUpdate, {"update", {S::kCreated, S::kRunning, S::kStopped, S::kPaused}}},
      {Op::kResizeContainer, {"resize_container", {S::kCreated, S::kRunning, S::kStopped, S::kPaused}}},
      {Op::kAddSecurityGroup, {"add_security_group", {S::kCreated, S::kRunning, S::kStopped, S::kPaused}}},
      {Op::kRemoveSecurityGroup, {"remove_security_group", {S::kCreated, S::kRunning, S::kStopped, S::kPaused}}},
      {Op::kNetworkAttach, {"network_attach", {S::kCreated, S::kRunning, S::kStopped, S::kPaused}}},
      {Op::kNetworkDetach, {"network_detach", {S::kCreated, S::kRunning, S::kStopped, S::kPaused}}},
      {Op::kCommit, {"commit", {S::kRunning, S::kStopped, S::kPaused}}},
      {Op::kGetArchive, {"get_archive", {S::kCreated, S::kPaused, S::kRunning, S::kStopped}}},
      {Op::kPutArchive, {"put_archive", {S::kCreated, S::kPaused, S::kRunning, S::kStopped}}},
      {Op::kLogs, {"logs", {S::kCreated, S::kError, S::kPaused, S::kRunning, S::kStopped, S::kUnknown}}},
      {Op::kDelete, {"delete", {S::kCreated, S::kError, S::kStopped, S::kDeleted, S::kDead}}},
      {Op::kDeleteStop, {"delete_stop", {S::kRunning, S::kCreated, S::kError, S::kStopped, S::kDeleted, S::kDead}}},
      {Op::kDeleteForce,
       {"delete_force",
        {S::kCreated, S::kCreating, S::kError, S::kRunning, S::kStopped, S::kUnknown, S::kDeleted, S::kDead,
         S::kRestarting, S::kRebuilding, S::kDeleting}}},
  };
  return table;
}

}  // namespace

const char* Name(Op op) { return Table().at(op).name; }

bool IsAllowed(Op op, ContainerStatus st) { return Table().at(op).allowed.count(st) > 0; }

Status CheckAllowed(Op op, const std::string& uuid, ContainerStatus st) {
  if (IsAllowed(op, st)) return Status::Ok();
  std::string verb = op == Op::kDeleteStop || op == Op::kDeleteForce ? "delete" : Name(op);
  return Status::Conflict("Cannot " + verb + " container " + uuid + " in " + ToString(st) + " state.",
                          "InvalidStateException");
}

}  // namespace zunvm
