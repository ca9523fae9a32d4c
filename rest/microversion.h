// Zun API microversions: "container 1.N", 1.1..1.40. No header means 1.1; "latest" the max.
#pragma once

#include <string>

#include "common/status.h"

namespace zunvm {

struct ApiVersion {
  int major = 1;
  int minor = 1;
  bool operator<(const ApiVersion& o) const {
    return major != o.major ? major < o.major : minor < o.minor;
  }
  bool operator<=(const ApiVersion& o) const { return !(o < *this); }
  bool operator>=(const ApiVersion& o) const { return !(*this < o); }
  bool operator==(const ApiVersion& o) const { return major == o.major && minor == o.minor; }
  bool AtLeast(int mi) const { return major > 1 || (major == 1 && minor >= mi); }
  std::string ToString() const { return std::to_string(major) + "." + std::to_string(minor); }
};

inline constexpr ApiVersion kMinVersion{1, 1};
inline constexpr ApiVersion kMaxVersion{1, 40};

// Parses the OpenStack-API-Version header value (empty: the minimum). NotAcceptable (406) for
// anything not "container X.Y"/"container latest" or outside the supported range.
Result<ApiVersion> ParseVersionHeader(const std::string& value);

}  // namespace zunvm
