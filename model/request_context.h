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
  // Sees and acts on every project's containers (an admin's all_projects, or the operator of
  // noauth/token); else only its own project's.
  bool all_projects = false;
};

}  // namespace zunvm
