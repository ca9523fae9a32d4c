// Zun's default policy table (rest/policy.h): which routes are admin_api, which
// admin_or_owner, and that anything not listed is admin-only.
#include "rest/policy.h"

#include <gtest/gtest.h>

namespace zunvm {
namespace {

RequestContext Member() {
  RequestContext c;
  c.user_id = "u";
  c.project_id = "p";
  c.roles = {"member"};
  return c;
}

TEST(Policy, ContainersAreAdminOrOwnerAndTheRestAdminApi) {
  for (const char* p : {"/v1/containers", "/v1/containers/{id}", "/v1/containers/{id}/start",
                        "/v1/containers/{id}/container_actions/{request_id}"}) {
    EXPECT_EQ(RuleOf("POST", p), PolicyRule::kAdminOrOwner) << p;
    EXPECT_TRUE(Authorize(Member(), "GET", p).ok()) << p;
  }
  EXPECT_EQ(RuleOf("GET", "/v1/availability_zones"), PolicyRule::kAdminOrOwner);
  EXPECT_EQ(RuleOf("GET", "/v1/quotas/{project_id}"), PolicyRule::kAdminOrOwner);
  EXPECT_EQ(RuleOf("PUT", "/v1/quotas/{project_id}"), PolicyRule::kAdminApi);
  EXPECT_EQ(RuleOf("GET", "/v1/images/{id}/search"), PolicyRule::kAdminOrOwner);
  for (const char* p : {"/v1/images", "/v1/images/{id}", "/v1/hosts", "/v1/hosts/{id}", "/v1/services",
                        "/v1/quota_classes/{name}", "/v1/something/new"}) {
    EXPECT_EQ(RuleOf("GET", p), PolicyRule::kAdminApi) << p;  // not listed: fails closed
    Status st = Authorize(Member(), "GET", p);
    EXPECT_EQ(st.code(), Code::kForbidden) << p;
    EXPECT_EQ(st.kind(), "PolicyNotAuthorized");
  }
  RequestContext admin = Member();
  admin.is_admin = true;
  EXPECT_TRUE(Authorize(admin, "GET", "/v1/hosts").ok());
  EXPECT_TRUE(Authorize(RequestContext{}, "GET", "/v1").ok());  // the version document
  EXPECT_EQ(RequireAdmin(Member(), "container:get_all_all_projects").message(),
            "Policy doesn't allow container:get_all_all_projects to be performed.");
}

}  // namespace
}  // namespace zunvm
