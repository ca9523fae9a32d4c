// Zun's default policy (zun/common/policies/), applied to every request in one place
// (Api::Route, after routing): each route is admin_or_owner or admin_api, and only admins may
// ask for all_projects or use the admin-only create fields. Owner checks on a container are
// the service's project scoping (another project's container is NotFound, as in Zun).
// Routes not listed are admin_api: the table fails closed.
//
// Errors: Forbidden "PolicyNotAuthorized", with Zun's message naming the rule.
#pragma once

#include <string>

#include "common/status.h"
#include "model/request_context.h"

namespace zunvm {

enum class PolicyRule { kPublic, kAdminOrOwner, kAdminApi };

// The rule of a route ("GET", "/v1/containers/{id}").
PolicyRule RuleOf(const std::string& method, const std::string& pattern);
// Ok when ctx may call the route.
Status Authorize(const RequestContext& ctx, const std::string& method, const std::string& pattern);
// Forbidden unless ctx is admin; `rule` names Zun's rule in the message.
Status RequireAdmin(const RequestContext& ctx, const std::string& rule);

}  // namespace zunvm
