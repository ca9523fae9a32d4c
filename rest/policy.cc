#include "rest/policy.h"

#include <utility>

namespace zunvm {

namespace {

struct Entry {
  const char* method;  // "*": any
  const char* prefix;  // the pattern starts with it
  PolicyRule rule;
};

// First match wins. From Zun's zun/common/policies/*.py defaults.
constexpr Entry kTable[] = {
    {"*", "/v1/containers", PolicyRule::kAdminOrOwner},  // every container route and its actions
    {"*", "/v1/capsules", PolicyRule::kAdminOrOwner},
    {"GET", "/v1/availability_zones", PolicyRule::kAdminOrOwner},
    {"GET", "/v1/quotas", PolicyRule::kAdminOrOwner},
    {"GET", "/v1/images/{id}/search", PolicyRule::kAdminOrOwner},
    {"*", "/v1/registries", PolicyRule::kAdminOrOwner},
    // images (pull, list, show, delete), hosts, services, networks, quota writes, quota
    // classes: admin_api, as everything not above.
};

bool StartsWith(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

}  // namespace

PolicyRule RuleOf(const std::string& method, const std::string& pattern) {
  if (pattern == "/v1") return PolicyRule::kPublic;
  for (const auto& e : kTable) {
    if ((std::string(e.method) == "*" || method == e.method) && StartsWith(pattern, e.prefix)) return e.rule;
  }
  return PolicyRule::kAdminApi;
}

Status RequireAdmin(const RequestContext& ctx, const std::string& rule) {
  if (ctx.is_admin) return Status::Ok();
  return Status(Code::kForbidden, "Policy doesn't allow " + rule + " to be performed.", "PolicyNotAuthorized");
}

Status Authorize(const RequestContext& ctx, const std::string& method, const std::string& pattern) {
  switch (RuleOf(method, pattern)) {
    case PolicyRule::kPublic:
    case PolicyRule::kAdminOrOwner:
      return Status::Ok();
    case PolicyRule::kAdminApi:
      return RequireAdmin(ctx, method + " " + pattern);
  }
  return RequireAdmin(ctx, method + " " + pattern);
}

}  // namespace zunvm
