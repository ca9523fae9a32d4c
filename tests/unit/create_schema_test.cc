#include <gtest/gtest.h>

#include "rest/create_schema.h"

namespace zunvm {
namespace {

using nlohmann::json;

const ApiVersion v1_1{1, 1}, v1_19{1, 19}, v1_20{1, 20}, v1_36{1, 36}, v1_39{1, 39}, v1_40{1, 40};

TEST(CreateSchema, WhatTheCliSends) {
  Config cfg;
  json body = json::parse(R"({"name": "y1", "image": "busybox", "memory": "256", "cpu": "2",
    "environment": {"A": "B"}, "workdir": "/tmp", "labels": {"tier": "web"},
    "image_pull_policy": "ifnotpresent", "auto_remove": false,
    "command": ["sh", "-c", "echo hi; sleep 100"],
    "restart_policy": {"Name": "on-failure", "MaximumRetryCount": "3"}, "hints": {}, "nets": [],
    "mounts": [], "runtime": "kata", "hostname": "h1", "disk": 5,
    "healthcheck": {"cmd": "true", "interval": 3, "retries": 2, "timeout": 5}})");
  auto c = ParseCreateBody(body, v1_40, cfg);
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->memory, 256);
  EXPECT_DOUBLE_EQ(c->cpu, 2.0);
  EXPECT_EQ(*c->command, (std::vector<std::string>{"sh", "-c", "echo hi; sleep 100"}));
  EXPECT_EQ(c->restart_policy.name, "on-failure");
  EXPECT_EQ(c->restart_policy.max_retry, 3);
  EXPECT_EQ(c->healthcheck->test, "true");
  EXPECT_EQ(*c->disk, 5);
  EXPECT_EQ(*c->hostname, "h1");
}

TEST(CreateSchema, DefaultsApply) {
  Config cfg;
  auto c = ParseCreateBody(json{{"image", "busybox"}}, v1_1, cfg);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->memory, cfg.default_memory);
  EXPECT_DOUBLE_EQ(c->cpu, cfg.default_cpu);
  EXPECT_EQ(*c->runtime, cfg.default_runtime);
  EXPECT_EQ(*c->disk, cfg.default_disk);
}

// A runtime must be one of [DEFAULT] runtimes (the 400 lists them) that this host can run (the
// 400 says why not); a runtime's own default size fills what the request leaves out.
TEST(CreateSchema, RuntimeIsAConfiguredOneThisHostCanRun) {
  Config cfg;
  cfg.runtimes = {"kata", "kata-debian", "big"};
  cfg.runtime_profiles.push_back(RuntimeProfile{});
  cfg.runtime_profiles.back().name = "big";
  cfg.runtime_profiles.back().vcpus = 2;
  cfg.runtime_profiles.back().memory_mib = 1024;
  cfg.FindRuntime("kata-debian")->unavailable = "its guest image file /x/vmlinux is missing";
  auto c = ParseCreateBody(json{{"image", "busybox"}, {"runtime", "gvisor"}}, v1_40, cfg);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Code::kInvalidArgument);
  EXPECT_NE(c.error().message().find("Runtime gvisor is not configured on this host (configured: kata, kata-debian, big)"),
            std::string::npos)
      << c.error().message();
  c = ParseCreateBody(json{{"image", "busybox"}, {"runtime", "kata-debian"}}, v1_40, cfg);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("this host cannot run it: its guest image file /x/vmlinux is missing"),
            std::string::npos)
      << c.error().message();
  c = ParseCreateBody(json{{"image", "busybox"}, {"runtime", "big"}}, v1_40, cfg);
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_DOUBLE_EQ(c->cpu, 2);
  EXPECT_EQ(c->memory, 1024);
  c = ParseCreateBody(json{{"image", "busybox"}, {"runtime", "big"}, {"cpu", 0.5}, {"memory", "64"}}, v1_40, cfg);
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_DOUBLE_EQ(c->cpu, 0.5);
  EXPECT_EQ(c->memory, 64);
}

TEST(CreateSchema, CommandStringBelow120IsShellSplit) {
  Config cfg;
  auto c = ParseCreateBody(json{{"image", "busybox"}, {"command", "\"sh\" \"-c\" \"echo hi\""}},
                           v1_19, cfg);
  ASSERT_TRUE(c);
  EXPECT_EQ(*c->command, (std::vector<std::string>{"sh", "-c", "echo hi"}));
  EXPECT_FALSE(ParseCreateBody(json{{"image", "busybox"}, {"command", json::array({"a"})}}, v1_19, cfg));
  EXPECT_FALSE(ParseCreateBody(json{{"image", "busybox"}, {"command", "a b"}}, v1_20, cfg));
  EXPECT_FALSE(ParseCreateBody(json{{"image", "busybox"}, {"command", "'open"}}, v1_1, cfg));
}

TEST(CreateSchema, TtyFollowsInteractiveBefore136) {
  Config cfg;
  auto c = ParseCreateBody(json{{"image", "busybox"}, {"interactive", true}}, v1_20, cfg);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->tty);
  c = ParseCreateBody(json{{"image", "busybox"}, {"interactive", true}, {"tty", false}}, v1_36, cfg);
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->tty);
}

struct Bad {
  const char* body;
  ApiVersion version;
  const char* kind;
  Code code;
};

void PrintTo(const Bad& b, std::ostream* os) { *os << b.body << " @" << b.version.ToString(); }

class CreateSchemaRejects : public ::testing::TestWithParam<Bad> {};

TEST_P(CreateSchemaRejects, WithTheRightError) {
  Config cfg;
  const Bad& b = GetParam();
  auto c = ParseCreateBody(json::parse(b.body), b.version, cfg);
  ASSERT_FALSE(c) << b.body;
  EXPECT_EQ(c.error().kind(), b.kind) << b.body << ": " << c.error().message();
  EXPECT_EQ(c.error().code(), b.code) << b.body;
}

INSTANTIATE_TEST_SUITE_P(
    Table, CreateSchemaRejects,
    ::testing::Values(
        Bad{R"({})", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"([])", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "bogus": 1})", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": 5})", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "b"})", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "entrypoint": ["sh"]})", v1_39, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "host": "x"})", v1_20, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "auto_remove": true})", {1, 2}, "InvalidParamInVersion", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "healthcheck": {}})", v1_20, "InvalidParamInVersion", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "memory": "lots"})", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "memory": 1})", v1_40, "InvalidValue", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "memory": 999999})", v1_40, "InvalidValue", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "cpu": "NaN"})", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "cpu": 100})", v1_40, "InvalidValue", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "name": "-bad"})", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "name": "a b"})", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "environment": {"A": 1}})", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "restart_policy": {"Name": "sometimes"}})", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "restart_policy": {"Name": "always", "MaximumRetryCount": 3}})", v1_40, "InvalidValue", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "interactive": "maybe"})", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "privileged": false})", v1_40, "PolicyNotAuthorized", Code::kForbidden},
        Bad{R"({"image": "busybox", "runtime": "gvisor"})", v1_40, "InvalidValue", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "security_groups": ["default", "web"]})", v1_40, "InvalidValue", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "security_groups": "default"})", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "exposed_ports": {"99999/tcp": {}}})", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "hostname": "under_score"})", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "uuid": "not-a-uuid"})", v1_40, "SchemaValidationError", Code::kInvalidArgument},
        Bad{R"({"image": "busybox", "uuid": 7})", v1_1, "SchemaValidationError", Code::kInvalidArgument}));

TEST(CreateSchema, TheDefaultSecurityGroupIsZunvmsNetworkPolicy) {
  Config cfg;
  // What Zun's legacy tests send on every create.
  auto c = ParseCreateBody(json{{"image", "busybox"}, {"security_groups", {"default", "default"}}}, v1_1, cfg);
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->security_groups, std::vector<std::string>{"default"});
  c = ParseCreateBody(json{{"image", "busybox"}, {"security_groups", json::array()}}, v1_40, cfg);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->security_groups.empty());
}

TEST(CreateSchema, CallerChosenUuidIsCanonical) {
  Config cfg;
  auto c = ParseCreateBody(json{{"image", "busybox"}, {"uuid", "0A1B2C3D4E5F40718293A4B5C6D7E8F9"}}, v1_1, cfg);
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->uuid, "0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9");
}

TEST(PatchSchema, KeysAndVersions) {
  Config cfg;
  auto p = ParsePatchBody(json{{"memory", "128"}, {"cpu", "1"}}, v1_40, cfg);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p->memory, 128);
  EXPECT_FALSE(ParsePatchBody(json{{"name", "x2"}}, {1, 13}, cfg));
  EXPECT_TRUE(ParsePatchBody(json{{"name", "x2"}}, {1, 14}, cfg));
  EXPECT_FALSE(ParsePatchBody(json{{"image", "x"}}, v1_40, cfg));
  EXPECT_FALSE(ParsePatchBody(json::object(), v1_40, cfg));
}

}  // namespace
}  // namespace zunvm

namespace zunvm {
namespace {

TEST(CreateSchema, MountsAsTheCliSendsThem) {
  Config cfg;
  const ApiVersion v1_11{1, 11}, v1_10{1, 10};
  json body = {{"image", "busybox"},
               {"mounts", json::array({{{"source", "data"}, {"destination", "/data"}},
                                       {{"size", "2"}, {"destination", "/scratch"}},
                                       {{"type", "bind"}, {"source", "aGVsbG8="}, {"destination", "/etc/x"}},
                                       {{"source", "data2"}, {"destination", "/ro"}, {"read_only", true}},
                                       {{"type", "block"}, {"device_path", "/dev/loop3"}, {"serial", "0123456789abcdef0123"},
                                        {"destination", "/cinder"}}})}};
  auto c = ParseCreateBody(body, v1_40, cfg);
  ASSERT_TRUE(c) << c.error().ToString();
  ASSERT_EQ(c->mounts.size(), 5u);
  EXPECT_EQ(c->mounts[0].source, "data");
  EXPECT_EQ(c->mounts[1].size_gib, 2);
  EXPECT_EQ(c->mounts[2].type, ContainerMount::Type::kBind);
  EXPECT_EQ(c->mounts[2].content, "hello");
  EXPECT_TRUE(c->mounts[3].read_only);
  EXPECT_EQ(c->mounts[4].type, ContainerMount::Type::kBlock);
  EXPECT_EQ(c->mounts[4].source, "/dev/loop3");
  EXPECT_TRUE(ParseCreateBody(json{{"image", "busybox"}, {"mounts", json::array({{{"size", 1}, {"destination", "/d"}}})}}, v1_11, cfg));
  EXPECT_FALSE(ParseCreateBody(json{{"image", "busybox"}, {"mounts", json::array({{{"size", 1}, {"destination", "/d"}}})}}, v1_10, cfg));
  for (const json& bad : {json{{"source", "a"}}, json{{"destination", "/d"}}, json{{"source", "a"}, {"destination", "/d"}, {"x", 1}},
                          json{{"type", "nfs"}, {"source", "a"}, {"destination", "/d"}},
                          json{{"type", "bind"}, {"source", "not base64!"}, {"destination", "/d"}},
                          json{{"size", "big"}, {"destination", "/d"}}, json{{"size", 0}, {"destination", "/d"}},
                          json{{"source", 5}, {"destination", "/d"}}, json{{"source", "a"}, {"destination", "/d"}, {"read_only", "yes"}},
                          json("a string")}) {
    auto r = ParseCreateBody(json{{"image", "busybox"}, {"mounts", json::array({bad})}}, v1_40, cfg);
    ASSERT_FALSE(r) << bad.dump();
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << bad.dump();
  }
  json many = json::array();
  for (int i = 0; i < 10000; ++i) many.push_back({{"source", "v" + std::to_string(i)}, {"destination", "/d" + std::to_string(i)}});
  EXPECT_FALSE(ParseCreateBody(json{{"image", "busybox"}, {"mounts", many}}, v1_40, cfg));
}

}  // namespace
}  // namespace zunvm
