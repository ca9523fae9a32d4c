#include "rest/microversion.h"

#include "common/strings.h"

namespace zunvm {

namespace {
Status NotAcceptable(const std::string& msg) {
  return Status(Code::kNotAcceptable, msg, "NotAcceptable");
}
}  // namespace

Result<ApiVersion> ParseVersionHeader(const std::string& value) {
  std::string v = Trim(value);
  if (v.empty()) return kMinVersion;
  // Several comma-separated service entries may be sent; pick ours.
  std::string mine;
  for (const std::string& part : Split(v, ',')) {
    std::string p = Trim(part);
    auto sp = p.find(' ');
    if (sp != std::string::npos && ToLower(p.substr(0, sp)) == "container") mine = Trim(p.substr(sp));
  }
  if (mine.empty()) {
    return Err(NotAcceptable("Invalid service type for OpenStack-API-Version header"));
  }
  if (ToLower(mine) == "latest") return kMaxVersion;
  auto dot = mine.find('.');
  if (dot == std::string::npos) {
    return Err(NotAcceptable("Invalid value for OpenStack-API-Version header"));
  }
  auto ma = ParseInt(mine.substr(0, dot));
  auto mi = ParseInt(mine.substr(dot + 1));
  if (!ma || !mi || *ma < 0 || *mi < 0 || *ma > 1000 || *mi > 100000 ||
      mine.substr(0, dot).find_first_not_of("0123456789") != std::string::npos ||
      mine.substr(dot + 1).find_first_not_of("0123456789") != std::string::npos) {
    return Err(NotAcceptable("Invalid value for OpenStack-API-Version header"));
  }
  ApiVersion ver{static_cast<int>(*ma), static_cast<int>(*mi)};
  if (ver < kMinVersion || kMaxVersion < ver) {
    return Err(NotAcceptable("Version " + ver.ToString() +
                             " was requested but the minor version is not supported by this "
                             "service. The supported version range is: [container " +
                             kMinVersion.ToString() + ", container " + kMaxVersion.ToString() +
                             "]."));
  }
  return ver;
}

}  // namespace zunvm
