// The request and response types every API handler sees.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rest/http.h"
#include "rest/microversion.h"
#include "service/container_service.h"

namespace zunvm {

struct ApiRequest {
  const HttpRequest* http = nullptr;
  ApiVersion version;
  std::map<std::string, std::string> path;    // captures of the route pattern
  std::map<std::string, std::string> query;   // decoded query parameters
  nlohmann::json body;                        // parsed JSON body (null when none)
  bool body_is_json = false;                  // Content-Type was application/json
  RequestContext ctx;
  std::string base_url;                       // "http://host:port", for links

  // A parameter from the query string, or else from a JSON object body (Zun's framework merges
  // both). Body scalars are rendered as strings ("True"/"False" for booleans).
  std::optional<std::string> Param(const std::string& name) const;
};

struct ApiResponse {
  int status = 200;
  std::optional<nlohmann::json> body;  // nullopt: no body and no Content-Type
  std::optional<std::string> text;     // instead of `body`: a body of type `text_type`
  std::string text_type;
  std::vector<std::pair<std::string, std::string>> headers;
  static ApiResponse Json(int status, nlohmann::json body) {
    ApiResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  static ApiResponse Text(int status, std::string text, std::string type) {
    ApiResponse r;
    r.status = status;
    r.text = std::move(text);
    r.text_type = std::move(type);
    return r;
  }
  static ApiResponse Empty(int status) {
    ApiResponse r;
    r.status = status;
    return r;
  }
};

}  // namespace zunvm
