#include "common/host_check.h"

namespace zunvm {

const char* CheckLevelName(CheckLevel level) {
  switch (level) {
    case CheckLevel::kOk: return "ok";
    case CheckLevel::kWarn: return "warn";
    case CheckLevel::kFatal: return "FAIL";
  }
  return "?";
}

bool AnyFatal(const std::vector<CheckItem>& items) {
  for (const auto& i : items) {
    if (i.level == CheckLevel::kFatal) return true;
  }
  return false;
}

}  // namespace zunvm
