// Zun's allowed-state table (utils.VALID_STATES): which container statuses each operation
// accepts. A violation is a 409 "Cannot <op> container <uuid> in <status> state."
#pragma once

#include <string>

#include "common/status.h"

namespace zunvm {

// `op` is one of: start stop pause unpause kill reboot rebuild update resize_container
// execute execute_resize attach resize top stats commit get_archive put_archive logs delete
// delete_stop delete_force add_security_group remove_security_group network_attach
// network_detach. Unknown ops are refused (a programming error reported as Internal).
Status CheckAllowed(const std::string& op, const std::string& uuid, const std::string& status);
bool IsAllowed(const std::string& op, const std::string& status);

}  // namespace zunvm
