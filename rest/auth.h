// Token authentication: X-Auth-Token compared in constant time (over SHA-256 digests, so the
// time does not depend on where or whether lengths differ) against the configured tokens.
#pragma once

#include <string>
#include <vector>

namespace zunvm {

bool TokenAccepted(const std::string& presented, const std::vector<std::string>& tokens);

}  // namespace zunvm
