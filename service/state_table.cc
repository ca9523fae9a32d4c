#include "service/state_table.h"

#include <map>
#include <set>

#include "service/container.h"

namespace zunvm {

namespace {
using namespace status;
using States = std::set<std::string>;

const std::map<std::string, States>& Table() {
  static const std::map<std::string, States> table = {
      {"start", {kCreated, kStopped, kError}},
      {"stop", {kRunning}},
      {"pause", {kRunning}},
      {"kill", {kRunning}},
      {"execute", {kRunning}},
      {"execute_resize", {kRunning}},
      {"attach", {kRunning}},
      {"resize", {kRunning}},
      {"top", {kRunning}},
      {"stats", {kRunning}},
      {"unpause", {kPaused}},
      {"reboot", {kCreated, kRunning, kStopped, kError}},
      {"rebuild", {kCreated, kRunning, kStopped, kError}},
      {"update", {kCreated, kRunning, kStopped, kPaused}},
      {"resize_container", {kCreated, kRunning, kStopped, kPaused}},
      {"add_security_group", {kCreated, kRunning, kStopped, kPaused}},
      {"remove_security_group", {kCreated, kRunning, kStopped, kPaused}},
      {"network_attach", {kCreated, kRunning, kStopped, kPaused}},
      {"network_detach", {kCreated, kRunning, kStopped, kPaused}},
      {"commit", {kRunning, kStopped, kPaused}},
      {"get_archive", {kCreated, kPaused, kRunning, kStopped}},
      {"put_archive", {kCreated, kPaused, kRunning, kStopped}},
      {"logs", {kCreated, kError, kPaused, kRunning, kStopped, kUnknown}},
      {"delete", {kCreated, kError, kStopped, kDeleted, kDead}},
      {"delete_stop", {kRunning, kCreated, kError, kStopped, kDeleted, kDead}},
      {"delete_force",
       {kCreated, kCreating, kError, kRunning, kStopped, kUnknown, kDeleted, kDead, kRestarting,
        kRebuilding, kDeleting}},
  };
  return table;
}
}  // namespace

bool IsAllowed(const std::string& op, const std::string& st) {
  auto it = Table().find(op);
  return it != Table().end() && it->second.count(st) > 0;
}

Status CheckAllowed(const std::string& op, const std::string& uuid, const std::string& st) {
  auto it = Table().find(op);
  if (it == Table().end()) return Status::Internal("no state rule for operation " + op);
  if (it->second.count(st)) return Status::Ok();
  std::string verb = op;
  if (op == "delete_stop" || op == "delete_force") verb = "delete";
  return Status::Conflict("Cannot " + verb + " container " + uuid + " in " + st + " state.",
                          "InvalidStateException");
}

}  // namespace zunvm
