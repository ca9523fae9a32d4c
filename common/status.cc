#include "common/status.h"

#include <cerrno>
#include <cstring>

namespace zunvm {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kUnauthorized: return "Unauthorized";
    case Code::kForbidden: return "Forbidden";
    case Code::kNotFound: return "NotFound";
    case Code::kMethodNotAllowed: return "MethodNotAllowed";
    case Code::kNotAcceptable: return "NotAcceptable";
    case Code::kConflict: return "Conflict";
    case Code::kNoSpace: return "NoSpace";
    case Code::kPayloadTooLarge: return "PayloadTooLarge";
    case Code::kUnsupportedMedia: return "UnsupportedMediaType";
    case Code::kInternal: return "Internal";
    case Code::kNotImplemented: return "NotImplemented";
    case Code::kUnavailable: return "Unavailable";
    case Code::kDeadlineExceeded: return "DeadlineExceeded";
  }
  return "Unknown";
}

Status WriteError(const std::string& what, int err) {
  if (err == ENOSPC || err == EDQUOT) {
    return Status::NoSpace(what + ": no space left on its filesystem; free space there (zunvmd goes on by itself "
                           "once there is room)");
  }
  return Status::Internal(what + ": " + std::strerror(err));
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + message_;
}

}  // namespace zunvm
