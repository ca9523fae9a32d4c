// Microversions, the router, the error envelope and the state table.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "rest/errors.h"
#include "rest/microversion.h"
#include "rest/query.h"
#include "rest/router.h"
#include "service/state_table.h"

namespace zunvm {
namespace {

TEST(Microversion, Parsing) {
  EXPECT_EQ(*ParseVersionHeader(""), (ApiVersion{1, 1}));
  EXPECT_EQ(*ParseVersionHeader("container 1.40"), (ApiVersion{1, 40}));
  EXPECT_EQ(*ParseVersionHeader("container latest"), (ApiVersion{1, 40}));
  EXPECT_EQ(*ParseVersionHeader("compute 2.1, container 1.20"), (ApiVersion{1, 20}));
  for (const char* bad : {"container 1.41", "container 1.0", "container 2.1", "compute 1.2",
                          "container", "container 1.x", "container 1.-1", "garbage",
                          "container 1.4.5"}) {
    auto v = ParseVersionHeader(bad);
    ASSERT_FALSE(v) << bad;
    EXPECT_EQ(v.error().code(), Code::kNotAcceptable) << bad;
  }
}

TEST(Router, MatchesMethodsAndVersions) {
  Router r;
  int hit = 0;
  r.Add("GET", "/v1/containers/{id}", [&](ApiRequest&) -> Result<ApiResponse> {
    hit = 1;
    return ApiResponse::Empty(200);
  });
  r.Add("POST", "/v1/containers/{id}/rename", [&](ApiRequest&) -> Result<ApiResponse> {
    hit = 2;
    return ApiResponse::Empty(200);
  }, {1, 1}, {1, 13});
  std::string allowed;
  auto m = r.Match("GET", {"v1", "containers", "abc"}, {1, 1}, &allowed);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params.at("id"), "abc");
  auto wrong = r.Match("DELETE", {"v1", "containers", "abc"}, {1, 1}, &allowed);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), Code::kMethodNotAllowed);
  EXPECT_EQ(allowed, "GET");
  auto old = r.Match("POST", {"v1", "containers", "abc", "rename"}, {1, 14}, &allowed);
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().code(), Code::kNotAcceptable);
  auto none = r.Match("GET", {"v1", "nothing"}, {1, 1}, &allowed);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), Code::kNotFound);
}

TEST(Errors, EnvelopeShape) {
  HttpResponse r = ErrorResponse(
      Status::NotFound("Container x could not be found.", "ContainerNotFound"), "req-1");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  auto j = nlohmann::json::parse(r.body);
  const auto& e = j["errors"][0];
  EXPECT_EQ(e["code"], "container.container-not-found");
  EXPECT_EQ(e["status"], 404);
  EXPECT_EQ(e["title"], "Container x could not be found.");
  EXPECT_EQ(e["detail"], e["title"]);
  EXPECT_TRUE(e["links"].is_array());
  // Internals never leak from a 500.
  HttpResponse i = ErrorResponse(Status::Internal("sqlite: disk I/O error at /secret"), "req-2");
  EXPECT_EQ(i.status, 500);
  EXPECT_EQ(i.body.find("/secret"), std::string::npos);
  EXPECT_NE(i.body.find("Error Correlation id"), std::string::npos);
  // A full disk is a 409 that says so (zunvmd is not broken, the host lacks space).
  HttpResponse full = ErrorResponse(Status::NoSpace("No space left on the filesystem of the state directory /s."), "req-4");
  EXPECT_EQ(full.status, 409);
  auto fj = nlohmann::json::parse(full.body);
  const auto& f = fj["errors"][0];
  EXPECT_EQ(f["code"], "container.no-space-left");
  EXPECT_EQ(f["status"], 409);
  EXPECT_EQ(f["detail"], "No space left on the filesystem of the state directory /s.");
  // Invalid UTF-8 in a message still produces valid JSON.
  HttpResponse u = ErrorResponse(Status::Invalid("bad \xFF name"), "req-3");
  EXPECT_FALSE(nlohmann::json::parse(u.body, nullptr, false).is_discarded());
}

TEST(Query, Decoding) {
  auto q = ParseQuery("command=%22echo%22+%22hi%22&run=True&run=False&flag");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->at("command"), "\"echo\" \"hi\"");
  EXPECT_EQ(q->at("run"), "True");
  EXPECT_EQ(q->at("flag"), "");
  EXPECT_FALSE(ParseQuery("a=%zz"));
  EXPECT_FALSE(ParseQuery("a=%ff"));    // not UTF-8
  EXPECT_FALSE(ParseQuery("a=%00"));    // NUL
}

struct StateCase {
  Op op;
  ContainerStatus status;
  bool allowed;
};

void PrintTo(const StateCase& c, std::ostream* os) { *os << Name(c.op) << " in " << ToString(c.status); }

class StateTable : public ::testing::TestWithParam<StateCase> {};

TEST_P(StateTable, FollowsZun) {
  const auto& c = GetParam();
  Status st = CheckAllowed(c.op, "u1", c.status);
  EXPECT_EQ(st.ok(), c.allowed) << Name(c.op) << " in " << ToString(c.status);
  if (!c.allowed) {
    EXPECT_EQ(st.code(), Code::kConflict);
    std::string verb = std::string(Name(c.op)).rfind("delete", 0) == 0 ? "delete" : Name(c.op);
    EXPECT_EQ(st.message(), "Cannot " + verb + " container u1 in " + ToString(c.status) + " state.");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Zun, StateTable,
    ::testing::Values(StateCase{Op::kStart, ContainerStatus::kCreated, true}, StateCase{Op::kStart, ContainerStatus::kRunning, false},
                      StateCase{Op::kStart, ContainerStatus::kError, true}, StateCase{Op::kStop, ContainerStatus::kRunning, true},
                      StateCase{Op::kStop, ContainerStatus::kStopped, false}, StateCase{Op::kPause, ContainerStatus::kPaused, false},
                      StateCase{Op::kUnpause, ContainerStatus::kPaused, true}, StateCase{Op::kUnpause, ContainerStatus::kRunning, false},
                      StateCase{Op::kReboot, ContainerStatus::kStopped, true}, StateCase{Op::kReboot, ContainerStatus::kPaused, false},
                      StateCase{Op::kExecute, ContainerStatus::kStopped, false}, StateCase{Op::kLogs, ContainerStatus::kUnknown, true},
                      StateCase{Op::kLogs, ContainerStatus::kCreating, false}, StateCase{Op::kDelete, ContainerStatus::kRunning, false},
                      StateCase{Op::kDelete, ContainerStatus::kStopped, true}, StateCase{Op::kDeleteStop, ContainerStatus::kRunning, true},
                      StateCase{Op::kDeleteForce, ContainerStatus::kPaused, false},
                      StateCase{Op::kDeleteForce, ContainerStatus::kCreating, true},
                      StateCase{Op::kUpdate, ContainerStatus::kPaused, true}, StateCase{Op::kUpdate, ContainerStatus::kError, false},
                      StateCase{Op::kCommit, ContainerStatus::kCreated, false}, StateCase{Op::kGetArchive, ContainerStatus::kCreated, true},
                      StateCase{Op::kPutArchive, ContainerStatus::kError, false}));

}  // namespace
}  // namespace zunvm
