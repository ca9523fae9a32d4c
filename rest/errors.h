// The one place that maps a Status to an HTTP status code and Zun's error envelope:
// {"errors": [{"request_id", "code": "container.<kebab-kind>", "status", "title", "detail",
// "links"}]}. 5xx bodies hide internals behind a correlation id (logged with the detail).
#pragma once

#include <string>

#include "common/status.h"
#include "rest/http.h"

namespace zunvm {

int HttpCodeFor(Code code);
HttpResponse ErrorResponse(const Status& st, const std::string& request_id);

}  // namespace zunvm
