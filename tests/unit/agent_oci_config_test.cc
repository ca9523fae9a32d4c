// The agent builds a container from the OCI config.json zunvmd writes (agent/guest/oci_config.h):
// the spec of a default container gives exactly Docker's defaults as the agent applies them, a
// privileged one everything, and malformed specs are refused naming the field.
#include <gtest/gtest.h>

#include <algorithm>

#include "agent/guest/oci_config.h"
#include "agent/guest/security.h"
#include "driver/oci/oci_spec.h"

namespace zunvm::agent {
namespace {

using nlohmann::json;

SandboxSpec Sample(bool privileged) {
  SandboxSpec s;
  s.uuid = "0b1c2d3e-0000-4000-8000-000000000001";
  s.argv = {"sh", "-c", "echo hi"};
  s.env = {{"A", "b"}};
  s.workdir = "/srv";
  s.hostname = "web";
  s.cpu = 0.5;
  s.memory_mib = 256;
  s.privileged = privileged;
  return s;
}

json SpecOf(const SandboxSpec& s, uint32_t uid = 0) {
  oci::OciSpecOptions o;
  o.root_path = "/";
  o.uid = uid;
  o.gid = uid;
  auto j = oci::BuildOciSpec(s, o);
  EXPECT_TRUE(j) << j.error().ToString();
  return *j;
}

std::vector<int> Sorted(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(AgentOciConfig, ADefaultContainersSpecGivesDockersDefaultsAsTheAgentAppliesThem) {
  ContainerSpec c;
  ASSERT_TRUE(ApplyOciConfig(SpecOf(Sample(false), 1000), c).ok());
  EXPECT_EQ(c.argv, (std::vector<std::string>{"sh", "-c", "echo hi"}));
  EXPECT_NE(std::find(c.env.begin(), c.env.end(), "A=b"), c.env.end());
  EXPECT_EQ(c.cwd, "/srv");
  EXPECT_EQ(c.uid, 1000u);
  EXPECT_EQ(c.gid, 1000u);
  EXPECT_EQ(c.hostname, "web");
  EXPECT_EQ(c.memory_bytes, int64_t{256} << 20);
  ASSERT_TRUE(c.cpus);
  EXPECT_DOUBLE_EQ(*c.cpus, 0.5);
  EXPECT_EQ(c.rlimits.at("nofile"), 1048576u);
  ContainerSecurity want = DockerDefaults(false);
  EXPECT_FALSE(c.security.privileged);
  EXPECT_EQ(Sorted(c.security.capabilities), Sorted(want.capabilities));
  EXPECT_TRUE(c.security.no_new_privileges);
  EXPECT_TRUE(c.security.seccomp);
  EXPECT_TRUE(c.security.standard_devices_only);
  EXPECT_EQ(c.security.masked_paths, want.masked_paths);
  EXPECT_EQ(c.security.readonly_paths, want.readonly_paths);
}

TEST(AgentOciConfig, APrivilegedContainersSpecGivesEverything) {
  ContainerSpec c;
  ASSERT_TRUE(ApplyOciConfig(SpecOf(Sample(true)), c).ok());
  ContainerSecurity want = DockerDefaults(true);
  EXPECT_TRUE(c.security.privileged);
  EXPECT_EQ(Sorted(c.security.capabilities), Sorted(want.capabilities));
  EXPECT_FALSE(c.security.no_new_privileges);
  EXPECT_FALSE(c.security.seccomp);
  EXPECT_FALSE(c.security.standard_devices_only);
  EXPECT_TRUE(c.security.masked_paths.empty());
  EXPECT_TRUE(c.security.readonly_paths.empty());
}

TEST(AgentOciConfig, MalformedSpecsAreRefusedNamingTheField) {
  const json good = SpecOf(Sample(false));
  struct Case {
    const char* pointer;
    json value;
    const char* field;
  };
  const Case cases[] = {
      {"/process/args", json::array(), "oci.process.args"},
      {"/process/args", json::array({1}), "oci.process.args"},
      {"/process/cwd", "relative", "oci.process.cwd"},
      {"/process/user/uid", -1, "oci.process.user.uid"},
      {"/process/user/uid", 4294967295u, "oci.process.user.uid"},
      {"/process/rlimits", json::array({{{"type", "RLIMIT_RTPRIO"}, {"soft", 1}, {"hard", 1}}}), "oci.process.rlimits"},
      {"/process/capabilities/bounding", json::array({"CAP_NOPE"}), "oci.process.capabilities.bounding"},
      {"/process/noNewPrivileges", "yes", "oci.process.noNewPrivileges"},
      {"/hostname", std::string(64, 'h'), "oci.hostname"},
      {"/linux/maskedPaths", json::array({"../etc"}), "oci.linux.maskedPaths"},
      {"/linux/resources/memory/limit", 1, "oci.linux.resources.memory.limit"},
      {"/linux/resources/cpu/quota", 0, "oci.linux.resources.cpu"},
      {"/process", "sh", "oci.process"},
  };
  for (const auto& k : cases) {
    json bad = good;
    bad[json::json_pointer(k.pointer)] = k.value;
    ContainerSpec c;
    Status st = ApplyOciConfig(bad, c);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << k.pointer;
    EXPECT_NE(st.message().find(k.field), std::string::npos) << k.pointer << ": " << st.message();
  }
  ContainerSpec c;
  EXPECT_FALSE(ApplyOciConfig(json::array(), c).ok());
  EXPECT_FALSE(ApplyOciConfig(json::object(), c).ok());
}

}  // namespace
}  // namespace zunvm::agent
