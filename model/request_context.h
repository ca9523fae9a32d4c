// Who asks: the request id (also the action's request_id), the caller's user and project, and
// its roles (Keystone's; with noauth or token the caller is the operator: is_admin).
#pragma once

#include <string>
#include <vector>

namespace zunvm {

struct RequestContext {
  std::string request_id;
  std::string user_id;
  std::string project_id;
  std::vector<std::string> roles;
  bool is_admin = false;
};

}  // namespace zunvm
