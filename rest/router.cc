#include "rest/router.h"

#include <set>

#include "common/strings.h"

namespace zunvm {

void Router::Add(const std::string& method, const std::string& pattern, ApiHandler handler,
                 ApiVersion min, ApiVersion max) {
  std::vector<std::string> segs;
  for (const auto& s : Split(pattern, '/')) {
    if (!s.empty()) segs.push_back(s);
  }
  routes_.push_back(Route{method, std::move(segs), pattern, std::move(handler), min, max});
}

bool Router::MatchPattern(const std::vector<std::string>& pattern,
                          const std::vector<std::string>& segments,
                          std::map<std::string, std::string>* params) {
  if (pattern.size() != segments.size()) return false;
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const std::string& p = pattern[i];
    if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
      if (segments[i].empty()) return false;
      out[p.substr(1, p.size() - 2)] = segments[i];
    } else if (p != segments[i]) {
      return false;
    }
  }
  if (params) *params = std::move(out);
  return true;
}

Result<RouteMatch> Router::Match(const std::string& method,
                                 const std::vector<std::string>& segments,
                                 const ApiVersion& version, std::string* allowed) const {
  std::set<std::string> methods;
  bool version_miss = false;
  // Literal routes win over captures: try routes whose pattern has fewer captures first.
  const Route* best = nullptr;
  int best_captures = 1 << 30;
  RouteMatch match;
  for (const auto& r : routes_) {
    std::map<std::string, std::string> params;
    if (!MatchPattern(r.pattern, segments, &params)) continue;
    methods.insert(r.method);
    if (r.method != method) continue;
    if (version < r.min || r.max < version) {
      version_miss = true;
      continue;
    }
    int captures = static_cast<int>(params.size());
    if (captures < best_captures) {
      best = &r;
      best_captures = captures;
      match.params = std::move(params);
    }
  }
  if (best) {
    match.handler = &best->handler;
    match.pattern = best->text;
    return match;
  }
  if (version_miss) {
    return Err(Status(Code::kNotAcceptable,
                      "Version " + version.ToString() +
                          " was requested but the requested API is not supported for this "
                          "version.",
                      "NotAcceptable"));
  }
  if (!methods.empty()) {
    if (allowed) *allowed = Join(std::vector<std::string>(methods.begin(), methods.end()), ", ");
    return Err(Status(Code::kMethodNotAllowed,
                      "The method " + method + " is not allowed for this resource.",
                      "MethodNotAllowed"));
  }
  return Err(Status::NotFound("The resource could not be found.", "NotFound"));
}

}  // namespace zunvm
