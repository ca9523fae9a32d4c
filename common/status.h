// Status and Result<T>: errors as values inside the core.
//
// Every fallible core function returns Status or Result<T>. Exceptions thrown by libraries
// (SQLiteCpp, nlohmann-json, cpprestsdk, libarchive wrappers) are caught at the adapter that
// calls them and turned into a Status. rest/errors.cc is the one place that maps a Status to
// an HTTP code and a Zun error envelope.
//
// Thread safety: value types, safe to copy between threads.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace zunvm {

enum class Code {
  kOk = 0,
  kInvalidArgument,     // 400: bad input (schema, query values, malformed JSON)
  kUnauthorized,        // 401: missing or wrong token
  kForbidden,           // 403: policy denies
  kNotFound,            // 404
  kMethodNotAllowed,    // 405
  kNotAcceptable,       // 406: microversion problems
  kConflict,            // 409: wrong state, ambiguous name, exec timeout
  kNoSpace,             // 409 too: no space left on a filesystem zunvmd writes (ENOSPC, SQLITE_FULL)
  kPayloadTooLarge,     // 413
  kUnsupportedMedia,    // 415
  kInternal,            // 500
  kNotImplemented,      // 501: needs a service zunvm does not have
  kUnavailable,         // 503: backend unreachable
  kDeadlineExceeded,    // 504 (internal deadlines; the API maps exec timeouts to 409 itself)
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  // Lets ZUNVM_RETURN_IF_ERROR's `return Err(st)` serve Status- and Result-returning functions.
  Status(tl::unexpected<Status> u) : Status(std::move(u.value())) {}  // NOLINT(implicit)
  // `kind` is Zun's exception class name (e.g. "ContainerNotFound"); it becomes the
  // `container.<kebab-case>` code of the error envelope. Empty means a generic name per code.
  Status(Code code, std::string message, std::string kind = {})
      : code_(code), message_(std::move(message)), kind_(std::move(kind)) {}

  static Status Ok() { return Status(); }
  static Status Invalid(std::string m, std::string kind = "InvalidValue") {
    return {Code::kInvalidArgument, std::move(m), std::move(kind)};
  }
  static Status NotFound(std::string m, std::string kind = "NotFound") {
    return {Code::kNotFound, std::move(m), std::move(kind)};
  }
  static Status Conflict(std::string m, std::string kind = "Conflict") {
    return {Code::kConflict, std::move(m), std::move(kind)};
  }
  // The filesystem zunvmd writes to (the state directory's) is full: nothing was written and
  // the request can be sent again once there is room. Not a 5xx: zunvmd works as it should,
  // the host lacks space (docs/operator.md section 6).
  static Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m), "NoSpaceLeft"}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m), "InternalError"}; }
  static Status Unavailable(std::string m) {
    return {Code::kUnavailable, std::move(m), "Unavailable"};
  }
  static Status NotImplemented(std::string m) {
    return {Code::kNotImplemented, std::move(m), "NotImplemented"};
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& kind() const { return kind_; }
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
  std::string kind_;
};

template <typename T>
using Result = tl::expected<T, Status>;

inline tl::unexpected<Status> Err(Status s) { return tl::unexpected<Status>(std::move(s)); }

const char* CodeName(Code code);

// A failed write of `what` (a path, or a phrase naming one) with errno `err`: NoSpace for ENOSPC
// and EDQUOT (saying to free space there), else Internal with strerror's text.
Status WriteError(const std::string& what, int err);

}  // namespace zunvm

// Propagates a non-OK Status from an expression returning Status.
#define ZUNVM_RETURN_IF_ERROR(expr)            \
  do {                                         \
    ::zunvm::Status _st = (expr);              \
    if (!_st.ok()) return ::zunvm::Err(_st);   \
  } while (0)
