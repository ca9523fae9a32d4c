// Who asks: the request id (also the action's request_id) and the caller's user and project.
#pragma once

#include <string>

namespace zunvm {

struct RequestContext {
  std::string request_id;
  std::string user_id;
  std::string project_id;
};

}  // namespace zunvm
