#include "rest/errors.h"

#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "common/logging.h"
#include "common/strings.h"

namespace zunvm {

int HttpCodeFor(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kUnauthorized: return 401;
    case Code::kForbidden: return 403;
    case Code::kNotFound: return 404;
    case Code::kMethodNotAllowed: return 405;
    case Code::kNotAcceptable: return 406;
    case Code::kConflict: return 409;
    case Code::kNoSpace: return 409;  // a 4xx: the host lacks space, zunvmd is not broken
    case Code::kPayloadTooLarge: return 413;
    case Code::kUnsupportedMedia: return 415;
    case Code::kInternal: return 500;
    case Code::kNotImplemented: return 501;
    case Code::kUnavailable: return 503;
    case Code::kDeadlineExceeded: return 504;
  }
  return 500;
}

HttpResponse ErrorResponse(const Status& st, const std::string& request_id) {
  int http = HttpCodeFor(st.code());
  std::string code, title, detail;
  if (http >= 500 && st.code() != Code::kNotImplemented) {
    std::string correlation = NewUuid();
    Logger("api")->error("request {} failed ({}): {}", request_id, correlation, st.ToString());
    code = "container.";
    title = "Internal Server Error";
    detail = "Your request could not be handled because of a problem in the server. "
             "Error Correlation id is: " + correlation;
    if (st.code() == Code::kUnavailable) {
      title = detail = st.message();
      code = "container." + KebabCase(st.kind().empty() ? "Unavailable" : st.kind());
    }
  } else {
    code = "container." + KebabCase(st.kind().empty() ? CodeName(st.code()) : st.kind());
    title = detail = st.message();
  }
  // Messages may quote user input: never let invalid UTF-8 break the JSON encoder.
  nlohmann::json err = {{"request_id", request_id}, {"code", code},    {"status", http},
                        {"title", title},           {"detail", detail}, {"links", nlohmann::json::array()}};
  nlohmann::json body = {{"errors", nlohmann::json::array({err})}};
  return HttpResponse::Json(http, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace zunvm
