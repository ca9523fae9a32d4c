// One line of the host check (`zunvmd check`, and the same checks when zunvmd starts): what
// was checked, what was found and, for a problem, what to do about it. A kFatal item means
// zunvmd cannot serve on this host as configured; kWarn means a feature or margin is missing.
#pragma once

#include <string>
#include <vector>

namespace zunvm {

enum class CheckLevel { kOk, kWarn, kFatal };

struct CheckItem {
  std::string name;   // e.g. "libvirt", "state dir reachable"
  CheckLevel level = CheckLevel::kOk;
  std::string found;  // what the check saw (versions, paths, sizes)
  std::string fix;    // for kWarn/kFatal: the change that makes it pass
};

const char* CheckLevelName(CheckLevel level);  // "ok", "warn", "FAIL"
bool AnyFatal(const std::vector<CheckItem>& items);

}  // namespace zunvm
