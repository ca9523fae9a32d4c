// Router: the one method x path table of the API. Patterns are literal segments and
// "{name}" captures; each route has the microversion range it exists in.
// Thread safety: Add() during set-up only; Match() is then read-only and thread-safe.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "rest/api_types.h"
#include "rest/microversion.h"

namespace zunvm {

using ApiHandler = std::function<Result<ApiResponse>(ApiRequest&)>;

struct RouteMatch {
  const ApiHandler* handler = nullptr;
  std::string pattern;  // the route's pattern as added, e.g. "/v1/containers/{id}/start"
  std::map<std::string, std::string> params;
};

class Router {
 public:
  void Add(const std::string& method, const std::string& pattern, ApiHandler handler,
           ApiVersion min = kMinVersion, ApiVersion max = kMaxVersion);
  // `segments` are decoded path segments. NotFound (no pattern matches), MethodNotAllowed
  // (the path exists with other methods; `allowed` lists them), NotAcceptable (exists but not
  // at this version).
  Result<RouteMatch> Match(const std::string& method, const std::vector<std::string>& segments,
                           const ApiVersion& version, std::string* allowed) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> pattern;
    std::string text;  // the pattern as added
    ApiHandler handler;
    ApiVersion min, max;
  };
  static bool MatchPattern(const std::vector<std::string>& pattern,
                           const std::vector<std::string>& segments,
                           std::map<std::string, std::string>* params);
  std::vector<Route> routes_;
};

}  // namespace zunvm
