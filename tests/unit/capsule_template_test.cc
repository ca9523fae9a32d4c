#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "common/ids.h"
#include "common/strings.h"
#include "rest/capsule_template.h"
#include "rest/views.h"

namespace zunvm {
namespace {

using nlohmann::json;

const ApiVersion v1_1{1, 1}, v1_31{1, 31}, v1_32{1, 32}, v1_33{1, 33}, v1_34{1, 34}, v1_37{1, 37},
    v1_38{1, 38}, v1_40{1, 40};

// Zun's template/capsule/capsule.yaml, by hand in JSON.
json ZunExample() {
  return json::parse(R"({
    "capsuleVersion": "beta",
    "kind": "capsule",
    "metadata": {"name": "capsule-example", "labels": {"app": "web", "app1": "web1"}},
    "availabilityZone": "nova",
    "spec": {
      "restartPolicy": "Always",
      "containers": [
        {"image": "ubuntu", "command": ["/bin/bash"], "imagePullPolicy": "ifnotpresent",
         "workDir": "/root",
         "ports": [{"name": "nginx-port", "containerPort": 80, "hostPort": 80, "protocol": "TCP"}],
         "resources": {"requests": {"cpu": 1, "memory": 1024}},
         "env": {"ENV1": "/usr/local/bin"},
         "volumeMounts": [{"name": "volume1", "mountPath": "/data1", "readOnly": true}]},
        {"image": "centos", "command": ["echo"], "args": ["Hello", "World"],
         "imagePullPolicy": "ifnotpresent", "workDir": "/root",
         "ports": [{"name": "nginx-port", "containerPort": 80, "hostPort": 80, "protocol": "TCP"},
                   {"name": "mysql-port", "containerPort": 3306, "hostPort": 3306, "protocol": "TCP"}],
         "resources": {"requests": {"cpu": 1, "memory": 1024}},
         "env": {"ENV2": "/usr/bin/"},
         "volumeMounts": [{"name": "volume2", "mountPath": "/data2"},
                          {"name": "volume3", "mountPath": "/data3"}]}
      ],
      "volumes": [
        {"name": "volume1", "cinder": {"size": 5, "autoRemove": true}},
        {"name": "volume2", "cinder": {"volumeID": "473e4a6a-99f2-4b42-88ce-5ab03a00b756"}},
        {"name": "volume3", "cinder": {"volumeID": "f4246aa1-1c87-479c-a2ab-4dbaf0c3c7bb"}}
      ]
    }
  })");
}

// Zun's template/capsule/capsule-init-containers.yaml.
json ZunInitExample() {
  return json::parse(R"({
    "capsuleVersion": "beta", "kind": "capsule", "metadata": {"name": "init-demo"},
    "spec": {
      "containers": [{"image": "nginx",
                      "volumeMounts": [{"name": "workdir", "mountPath": "/usr/share/nginx/html"}]}],
      "initContainers": [{"image": "busybox",
                          "command": ["wget", "-O", "/work-dir/index.html", "https://www.openstack.org/"],
                          "volumeMounts": [{"name": "workdir", "mountPath": "/work-dir"}]}],
      "volumes": [{"name": "workdir", "cinder": {"size": 1}}]
    }
  })");
}

json Minimal() {
  return json::parse(R"({"kind": "capsule", "metadata": {"name": "demo"},
                         "spec": {"containers": [{"image": "busybox"}]}})");
}

json Body(json tpl) { return json{{"template", std::move(tpl)}}; }

Result<CapsuleRequest> Parse(const json& body, bool admin = false, const ApiVersion& v = v1_40) {
  Config cfg;
  return ParseCapsuleBody(body, v, cfg, admin);
}

// The error of a refused body: its code, kind and message.
Status Refusal(const json& body, bool admin = false) {
  auto r = Parse(body, admin);
  if (r) return Status::Ok();
  return r.error();
}

void ExpectInvalid(const json& body, const std::string& kind, const std::string& text) {
  Status st = Refusal(body);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << body.dump();
  EXPECT_EQ(st.kind(), kind) << st.message();
  EXPECT_NE(st.message().find(text), std::string::npos) << st.message();
}

TEST(CapsuleTemplate, ZunExampleTemplate) {
  auto r = Parse(Body(ZunExample()), /*admin=*/true);
  ASSERT_TRUE(r) << r.error().ToString();
  const Capsule& cap = r->capsule;
  EXPECT_TRUE(IsUuidLike(cap.uuid));
  EXPECT_EQ(*cap.name, "capsule-example");
  EXPECT_EQ(cap.labels, (std::map<std::string, std::string>{{"app", "web"}, {"app1", "web1"}}));
  EXPECT_EQ(*cap.availability_zone, "nova");
  EXPECT_EQ(cap.restart_policy.name, "always");
  EXPECT_EQ(cap.restart_policy.max_retry, 0);
  EXPECT_DOUBLE_EQ(cap.cpu, 2);
  EXPECT_EQ(cap.memory, 2048);
  ASSERT_EQ(r->members.size(), 2u);
  EXPECT_TRUE(cap.init_containers.empty());
  EXPECT_EQ(cap.containers, (std::vector<std::string>{r->members[0].uuid, r->members[1].uuid}));

  const Container& a = r->members[0];
  EXPECT_EQ(a.image, "ubuntu");
  EXPECT_EQ(*a.command, (std::vector<std::string>{"/bin/bash"}));
  EXPECT_EQ(*a.image_pull_policy, "ifnotpresent");
  EXPECT_EQ(*a.workdir, "/root");
  EXPECT_EQ(a.environment, (std::map<std::string, std::string>{{"ENV1", "/usr/local/bin"}}));
  EXPECT_EQ(json(a.exposed_ports), json::parse(R"({"80/tcp": {}})"));
  EXPECT_EQ(a.ports, (std::vector<int>{80}));
  EXPECT_DOUBLE_EQ(a.cpu, 1);
  EXPECT_EQ(a.memory, 1024);
  EXPECT_EQ(*a.capsule_id, cap.uuid);
  EXPECT_FALSE(a.init_container);
  EXPECT_EQ(*a.hostname, "capsule-example");
  EXPECT_EQ(a.restart_policy.name, "always");
  ASSERT_EQ(a.mounts.size(), 1u);
  EXPECT_EQ(a.mounts[0].type, ContainerMount::Type::kVolume);
  EXPECT_EQ(a.mounts[0].source, "volume1");
  EXPECT_EQ(a.mounts[0].destination, "/data1");
  EXPECT_TRUE(a.mounts[0].read_only);

  const Container& b = r->members[1];
  EXPECT_EQ(*b.command, (std::vector<std::string>{"echo", "Hello", "World"}));
  EXPECT_EQ(json(b.exposed_ports), json::parse(R"({"80/tcp": {}, "3306/tcp": {}})"));
  EXPECT_EQ(b.ports, (std::vector<int>{80, 3306}));
  ASSERT_EQ(b.mounts.size(), 2u);
  EXPECT_EQ(b.mounts[1].source, "volume3");
  EXPECT_FALSE(b.mounts[1].read_only);

  ASSERT_EQ(cap.volumes.size(), 3u);
  EXPECT_EQ(cap.volumes[0].name, "volume1");
  EXPECT_EQ(*cap.volumes[0].size_gib, 5);
  EXPECT_TRUE(cap.volumes[0].auto_remove);
  EXPECT_TRUE(cap.volumes[0].volume_uuid.empty());
  EXPECT_EQ(cap.volumes[1].volume_uuid, "473e4a6a-99f2-4b42-88ce-5ab03a00b756");
  EXPECT_FALSE(cap.volumes[1].size_gib);
  EXPECT_FALSE(cap.volumes[1].auto_remove);
}

TEST(CapsuleTemplate, ImagePullPolicyIsDroppedForNonAdminsAsZunDoes) {
  auto r = Parse(Body(ZunExample()), /*admin=*/false);
  ASSERT_TRUE(r) << r.error().ToString();
  for (const auto& m : r->members) EXPECT_EQ(*m.image_pull_policy, "always");
  json t = Minimal();
  t["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent";
  r = Parse(Body(t), /*admin=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r->members[0].image_pull_policy, "ifnotpresent");
}

TEST(CapsuleTemplate, ZunInitContainersExample) {
  auto r = Parse(Body(ZunInitExample()));
  ASSERT_TRUE(r) << r.error().ToString();
  const Capsule& cap = r->capsule;
  ASSERT_EQ(r->members.size(), 2u);
  const Container& init = r->members[0];
  const Container& nginx = r->members[1];
  EXPECT_TRUE(init.init_container);
  EXPECT_FALSE(nginx.init_container);
  EXPECT_EQ(init.image, "busybox");
  EXPECT_EQ(cap.init_containers, (std::vector<std::string>{init.uuid}));
  EXPECT_EQ(cap.containers, (std::vector<std::string>{nginx.uuid}));
  // Under "always", init containers are on-failure with 10 retries; the others keep always.
  EXPECT_EQ(init.restart_policy.name, "on-failure");
  EXPECT_EQ(init.restart_policy.max_retry, 10);
  EXPECT_EQ(nginx.restart_policy.name, "always");
  EXPECT_EQ(nginx.restart_policy.max_retry, 0);
  EXPECT_EQ(cap.restart_policy.name, "always");
  // Nothing requested: the members get the defaults, the capsule 0 (the service sizes the VM).
  Config cfg;
  EXPECT_DOUBLE_EQ(nginx.cpu, cfg.default_cpu);
  EXPECT_EQ(nginx.memory, cfg.default_memory);
  EXPECT_DOUBLE_EQ(cap.cpu, 0);
  EXPECT_EQ(cap.memory, 0);
  std::regex name_re("^capsule-init-demo-[a-z]+-[0-9]+$");
  for (const auto& m : r->members) {
    EXPECT_TRUE(std::regex_match(m.name, name_re)) << m.name;
    EXPECT_EQ(*m.hostname, "init-demo");
    EXPECT_EQ(*m.capsule_id, cap.uuid);
    ASSERT_EQ(m.mounts.size(), 1u);
    EXPECT_EQ(m.mounts[0].source, "workdir");
  }
  EXPECT_EQ(init.mounts[0].destination, "/work-dir");
  ASSERT_EQ(cap.volumes.size(), 1u);
  EXPECT_EQ(*cap.volumes[0].size_gib, 1);
  EXPECT_FALSE(cap.volumes[0].auto_remove);
}

TEST(CapsuleTemplate, ArgsAreAppendedToTheCommandOrBecomeIt) {
  json t = Minimal();
  t["spec"]["containers"] = json::parse(R"([
    {"image": "busybox", "args": ["sleep", "10"]},
    {"image": "busybox", "command": ["sh", "-c"], "args": ["echo hi"]},
    {"image": "busybox", "command": ["top"], "args": []},
    {"image": "busybox"}])");
  auto r = Parse(Body(t));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(*r->members[0].command, (std::vector<std::string>{"sleep", "10"}));
  EXPECT_EQ(*r->members[1].command, (std::vector<std::string>{"sh", "-c", "echo hi"}));
  EXPECT_EQ(*r->members[2].command, (std::vector<std::string>{"top"}));
  EXPECT_FALSE(r->members[3].command);
}

TEST(CapsuleTemplate, EnvWorkDirStdinTty) {
  json t = Minimal();
  t["spec"]["containers"][0].update(json::parse(
      R"({"env": {"A": "1", "B": ""}, "workDir": "/srv", "stdin": "true", "tty": true})"));
  auto r = Parse(Body(t));
  ASSERT_TRUE(r) << r.error().ToString();
  const Container& c = r->members[0];
  EXPECT_EQ(c.environment, (std::map<std::string, std::string>{{"A", "1"}, {"B", ""}}));
  EXPECT_EQ(*c.workdir, "/srv");
  EXPECT_TRUE(c.interactive);
  EXPECT_TRUE(c.tty);
  t["spec"]["containers"][0]["stdin"] = "yes";  // Zun's `boolean`, not boolean_extended
  ExpectInvalid(Body(t), "SchemaValidationError", "Expected a boolean");
}

TEST(CapsuleTemplate, PortsBecomeExposedPorts) {
  json t = Minimal();
  t["spec"]["containers"][0]["ports"] =
      json::parse(R"([{"containerPort": "8080", "protocol": "UDP"}, {"containerPort": 53},
                      {"containerPort": 53, "protocol": "UDP"}])");
  auto r = Parse(Body(t));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(json(r->members[0].exposed_ports), json::parse(R"({"8080/udp": {}, "53/tcp": {}, "53/udp": {}})"));
  EXPECT_EQ(r->members[0].ports, (std::vector<int>{8080, 53}));
  for (const char* bad : {R"([{"containerPort": 0}])", R"([{"containerPort": 70000}])", R"([{"containerPort": ""}])",
                          R"([{"containerPort": 80, "protocol": "tcp"}])", R"([{"hostPort": 80}])",
                          R"([{"containerPort": 80, "target": 1}])"}) {
    t["spec"]["containers"][0]["ports"] = json::parse(bad);
    EXPECT_EQ(Refusal(Body(t)).code(), Code::kInvalidArgument) << bad;
  }
}

TEST(CapsuleTemplate, SizesSumTheContainersThenTakeTheLargestInit) {
  json t = Minimal();
  t["spec"]["containers"] = json::parse(R"([
    {"image": "busybox", "resources": {"requests": {"cpu": 1, "memory": 256}}},
    {"image": "busybox", "resources": {"requests": {"cpu": "0.5", "memory": "512"}}},
    {"image": "busybox"}])");
  t["spec"]["initContainers"] = json::parse(R"([
    {"image": "busybox", "resources": {"requests": {"cpu": 2, "memory": 128}}},
    {"image": "busybox", "resources": {"requests": {"memory": 1000}}}])");
  auto r = Parse(Body(t));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_DOUBLE_EQ(r->capsule.cpu, 2);      // max(1 + 0.5, 2)
  EXPECT_EQ(r->capsule.memory, 1000);      // max(256 + 512, 128, 1000)
  Config cfg;
  ASSERT_EQ(r->members.size(), 5u);
  EXPECT_DOUBLE_EQ(r->members[0].cpu, 2);  // the first init
  EXPECT_DOUBLE_EQ(r->members[1].cpu, cfg.default_cpu);
  EXPECT_EQ(r->members[1].memory, 1000);
  EXPECT_DOUBLE_EQ(r->members[3].cpu, 0.5);
  EXPECT_EQ(r->members[3].memory, 512);
  EXPECT_EQ(r->members[4].memory, cfg.default_memory);
}

TEST(CapsuleTemplate, CpuAndMemoryOutOfTheConfigRangeAreRefused) {
  Config cfg;
  for (const json& req : {json{{"cpu", 0}}, json{{"cpu", cfg.maximum_cpus + 1}}, json{{"cpu", "-1"}},
                          json{{"memory", 1}}, json{{"memory", cfg.maximum_memory + 1}}, json{{"memory", "1.5"}},
                          json{{"memory", 1.5}}, json{{"disk", 1}}}) {
    json t = Minimal();
    t["spec"]["containers"][0]["resources"] = {{"requests", req}};
    EXPECT_EQ(Refusal(Body(t)).code(), Code::kInvalidArgument) << req.dump();
  }
  json t = Minimal();
  t["spec"]["containers"][0]["resources"] = {{"requests", {{"memory", cfg.maximum_memory + 1}}}};
  ExpectInvalid(Body(t), "InvalidValue", "Invalid memory value");
}

TEST(CapsuleTemplate, RestartPolicies) {
  // The capsule's policy, then each member's "name:retries", init containers first.
  auto policies = [](const json& t) {
    std::vector<std::string> out;
    auto r = Parse(Body(t));
    if (!r) return std::vector<std::string>{r.error().ToString()};
    out.push_back(r->capsule.restart_policy.name + ":" + std::to_string(r->capsule.restart_policy.max_retry));
    for (const auto& m : r->members) {
      out.push_back(m.restart_policy.name + ":" + std::to_string(m.restart_policy.max_retry));
    }
    return out;
  };
  using L = std::vector<std::string>;
  json t = Minimal();
  t["spec"]["initContainers"] = json::array({{{"image", "busybox"}}});
  EXPECT_EQ(policies(t), (L{"always:0", "on-failure:10", "always:0"}));
  t["spec"]["restartPolicy"] = "Never";
  EXPECT_EQ(policies(t), (L{"no:0", "no:0", "no:0"}));
  t["spec"]["restartPolicy"] = "OnFailure";
  EXPECT_EQ(policies(t), (L{"on-failure:0", "on-failure:0", "on-failure:0"}));
  // The deprecated top-level restartPolicy, when the spec has none.
  t["spec"].erase("restartPolicy");
  t["restartPolicy"] = "Never";
  EXPECT_EQ(policies(t), (L{"no:0", "no:0", "no:0"}));
  t["spec"]["restartPolicy"] = "Always";
  EXPECT_EQ(policies(t), (L{"always:0", "on-failure:10", "always:0"}));

  t["spec"]["restartPolicy"] = "always";
  ExpectInvalid(Body(t), "SchemaValidationError", "Must be Always, OnFailure or Never");
}

TEST(CapsuleTemplate, NamesAndHostnames) {
  json t = Minimal();
  t["metadata"].erase("name");
  auto r = Parse(Body(t));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_FALSE(r->capsule.name);
  EXPECT_TRUE(StartsWith(r->members[0].name, "capsule-" + r->capsule.uuid + "-")) << r->members[0].name;
  EXPECT_FALSE(r->members[0].hostname);

  t["metadata"]["name"] = "my_pod.v1";
  r = Parse(Body(t));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r->members[0].hostname, "my-pod-v1");
  EXPECT_TRUE(StartsWith(r->members[0].name, "capsule-my_pod.v1-"));

  // 16 members: distinct names; a 255-character capsule name still gives names of 255 at most.
  t["metadata"]["name"] = std::string(255, 'a');
  t["spec"]["containers"] = json::array();
  for (int i = 0; i < 16; ++i) t["spec"]["containers"].push_back({{"image", "busybox"}});
  r = Parse(Body(t));
  ASSERT_TRUE(r) << r.error().ToString();
  std::set<std::string> names;
  for (const auto& m : r->members) {
    names.insert(m.name);
    EXPECT_LE(m.name.size(), 255u);
    EXPECT_EQ(m.hostname->size(), 63u);
  }
  EXPECT_EQ(names.size(), 16u);

  t["metadata"]["name"] = "-bad";
  ExpectInvalid(Body(t), "SchemaValidationError", "template.metadata.name");
}

TEST(CapsuleTemplate, TemplateAsJsonString) {
  auto r = Parse(Body(ZunExample().dump()));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->members.size(), 2u);
  ExpectInvalid(Body("{\"kind\": \"capsule\", "), "FailedParseStringToJson", "Failed parse string to json: ");
  ExpectInvalid(Body("[1, 2]"), "SchemaValidationError", "Expected an object");
  ExpectInvalid(Body(42), "SchemaValidationError", "template");
  // A string template is checked as the object is (Zun validates it after loads()).
  json t = Minimal();
  t["nets"] = json::array();
  ExpectInvalid(Body(t.dump()), "SchemaValidationError", "Additional properties are not allowed ('nets' was unexpected)");
}

TEST(CapsuleTemplate, StructuralRefusals) {
  json t = Minimal();
  t.erase("spec");
  ExpectInvalid(Body(t), "InvalidCapsuleTemplate", "Invalid capsule template: No Spec found.");
  t = Minimal();
  t.erase("metadata");
  ExpectInvalid(Body(t), "SchemaValidationError", "'metadata' is a required property");
  t = Minimal();
  t["kind"] = "pod";
  ExpectInvalid(Body(t), "InvalidCapsuleTemplate", "Invalid capsule template: kind fields need to be set as capsule or Capsule.");
  t.erase("kind");
  ExpectInvalid(Body(t), "InvalidCapsuleTemplate", "kind fields need to be set as capsule or Capsule");
  t = Minimal();
  t["spec"].erase("containers");
  ExpectInvalid(Body(t), "InvalidCapsuleTemplate", "No valid containers field");
  t["spec"]["containers"] = json::array();
  ExpectInvalid(Body(t), "InvalidCapsuleTemplate", "Capsule need to have one container at least");
  t["spec"]["containers"] = json::array({{{"command", json::array({"ls"})}}});
  ExpectInvalid(Body(t), "InvalidCapsuleTemplate", "Container image is needed");
  t = Minimal();
  t["spec"]["initContainers"] = json::array({json::object()});
  ExpectInvalid(Body(t), "InvalidCapsuleTemplate", "Container image is needed");
  t = Minimal();
  t["spec"]["containers"][0]["labels"] = {{"app", "web"}};  // as Zun's own capsule-volume.yaml
  ExpectInvalid(Body(t), "SchemaValidationError", "Additional properties are not allowed ('labels' was unexpected)");
  t = Minimal();
  t["nets"] = json::array();
  ExpectInvalid(Body(t), "SchemaValidationError", "('nets' was unexpected)");
  t = Minimal();
  t["capsuleVersion"] = "v1";
  ExpectInvalid(Body(t), "SchemaValidationError", "capsuleVersion");
  t = Minimal();
  t["availabilityZone"] = "elsewhere";
  ExpectInvalid(Body(t), "InvalidValue", "Availability zone elsewhere is not served here");
  t = Minimal();
  t["spec"]["something"] = {{"ignored", true}};  // Zun's spec allows other keys
  EXPECT_TRUE(Parse(Body(t)));
  ExpectInvalid(json{{"template", Minimal()}, {"x", 1}}, "SchemaValidationError", "('x' was unexpected)");
  ExpectInvalid(json::object(), "SchemaValidationError", "'template' is a required property");
  ExpectInvalid(json::array(), "SchemaValidationError", "must be a JSON object");
}

TEST(CapsuleTemplate, DuplicateNamesAndInitPortsAreRefused) {
  json t = Minimal();
  t["spec"]["containers"] = json::parse(R"([{"name": "web", "image": "nginx"}, {"name": "db", "image": "mysql"}])");
  EXPECT_TRUE(Parse(Body(t)));
  t["spec"]["initContainers"] = json::parse(R"([{"name": "web", "image": "busybox"}])");
  ExpectInvalid(Body(t), "InvalidCapsuleTemplate", "container name 'web' is used twice");
  t["spec"]["initContainers"] = json::parse(R"([{"name": "init", "image": "busybox", "ports": [{"containerPort": 80}]}])");
  ExpectInvalid(Body(t), "InvalidCapsuleTemplate", "init containers cannot have ports");
}

TEST(CapsuleTemplate, AtMost16Members) {
  for (size_t n : {17, 1000}) {
    json t = Minimal();
    t["spec"]["containers"] = json::array();
    for (size_t i = 0; i < n; ++i) t["spec"]["containers"].push_back({{"image", "busybox"}});
    ExpectInvalid(Body(t), "InvalidCapsuleTemplate", "at most 16 containers");
  }
  json t = Minimal();
  t["spec"]["containers"] = json::array();
  t["spec"]["initContainers"] = json::array();
  for (size_t i = 0; i < 8; ++i) {
    t["spec"]["containers"].push_back({{"image", "busybox"}});
    t["spec"]["initContainers"].push_back({{"image", "busybox"}});
  }
  EXPECT_TRUE(Parse(Body(t)));
  t["spec"]["initContainers"].push_back({{"image", "busybox"}});
  ExpectInvalid(Body(t), "InvalidCapsuleTemplate", "this one has 17");
}

TEST(CapsuleTemplate, VolumeRefusals) {
  auto with = [](const char* volumes, const char* mounts) {
    json t = Minimal();
    t["spec"]["volumes"] = json::parse(volumes);
    t["spec"]["containers"][0]["volumeMounts"] = json::parse(mounts);
    return Body(t);
  };
  const char* one_mount = R"([{"name": "v1", "mountPath": "/data"}])";
  EXPECT_TRUE(Parse(with(R"([{"name": "v1", "cinder": {"size": 2}}])", one_mount)));
  ExpectInvalid(with(R"([{"name": "v1", "cinder": {"size": 2}}, {"name": "v2", "cinder": {"size": 1}}])", one_mount),
                "Invalid", "volume mount parameters is invalid.");
  ExpectInvalid(with(R"([{"name": "v1", "cinder": {"size": 2}}])",
                     R"([{"name": "v1", "mountPath": "/data"}, {"name": "v9", "mountPath": "/x"}])"),
                "InvalidCapsuleTemplate", "volumeMount 'v9' names no volume");
  ExpectInvalid(with(R"([])", one_mount), "InvalidCapsuleTemplate", "volumeMount 'v1' names no volume");
  ExpectInvalid(with(R"([{"name": "v1", "cinder": {"size": 2, "volumeID": "473e4a6a-99f2-4b42-88ce-5ab03a00b756"}}])",
                     one_mount),
                "InvalidCapsuleTemplate", "Volume size and uuid could not be set at the same time");
  ExpectInvalid(with(R"([{"name": "v1", "cinder": {"autoRemove": true}}])", one_mount), "InvalidCapsuleTemplate",
                "Volume size is needed");
  ExpectInvalid(with(R"([{"name": "v1", "cinder": {}}])", one_mount), "InvalidCapsuleTemplate",
                "Zun now Only support Cinder volume driver");
  ExpectInvalid(with(R"([{"name": "v1", "nfs": {}}])", one_mount), "SchemaValidationError",
                "'cinder' is a required property");
  ExpectInvalid(with(R"([{"name": "v1", "cinder": {"size": 1}}, {"name": "v1", "cinder": {"size": 2}}])", one_mount),
                "InvalidCapsuleTemplate", "volume name 'v1' is used twice");
  ExpectInvalid(with(R"([{"name": "v1", "cinder": {"size": 1.5}}])", one_mount), "SchemaValidationError", "Volume size");
  ExpectInvalid(with(R"([{"name": "v1", "cinder": {"volumeID": "short"}}])", one_mount), "SchemaValidationError",
                "volumeID");
  ExpectInvalid(with(R"([{"name": "v1", "cinder": {"size": 1}}])",
                     R"([{"name": "v1", "mountPath": "/d"}, {"name": "v1", "mountPath": "/d"}])"),
                "SchemaValidationError", "mounted at this path");
}

TEST(CapsuleTemplate, HostileValuesAre400NeverACrash) {
  // Every place of the example template, replaced by every kind of wrong value.
  // Built in place (a json copy recurses, so nothing deep is ever copied).
  auto deep = [] {
    json d = json::array();
    json* cur = &d;
    for (int i = 0; i < 100000; ++i) {
      cur->push_back(json::array());
      cur = &cur->back();
    }
    return d;
  };
  std::vector<json> values = {nullptr, 0, -1, 1.5, "x", "", json::array(), json::object(), true,
                              json::array({nullptr}), json{{"a", nullptr}}};
  json flat = ZunExample().flatten();
  std::set<std::string> pointers;
  for (auto it = flat.begin(); it != flat.end(); ++it) {
    json::json_pointer p(it.key());
    while (!p.empty()) {
      pointers.insert(p.to_string());
      p = p.parent_pointer();
    }
  }
  for (const auto& ptr : pointers) {
    for (const auto& value : values) {
      json t = ZunExample();
      t[json::json_pointer(ptr)] = value;
      auto r = Parse(Body(t), true);
      if (!r) {
        EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << ptr << " = " << value.dump();
      }
    }
  }
  for (const char* ptr : {"/template/kind", "/template/spec/containers/0/image", "/template/metadata/labels",
                          "/template/spec/volumes/0/cinder/size", "/template"}) {
    json body = Body(ZunExample());
    body[json::json_pointer(ptr)] = deep();
    Status st = Refusal(body, true);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << ptr;
    EXPECT_LT(st.message().size(), 1000u);
  }
  std::string nested(200000, '[');
  ExpectInvalid(Body(nested + std::string(200000, ']')), "SchemaValidationError", "nested too deeply");
}

TEST(CapsuleTemplate, AdminExtensions) {
  std::string uuid = "0d2f7f5e-1111-4222-8333-944455556666";
  json members = json::parse(R"([{"uuid": "aaaaaaaa-1111-4222-8333-944455556666", "name": "zun-init"},
                                 {"uuid": "bbbbbbbb-1111-4222-8333-944455556666", "name": "zun-nginx"}])");
  json body = Body(ZunInitExample());
  body["uuid"] = uuid;
  Status st = Refusal(body);
  EXPECT_EQ(st.code(), Code::kForbidden);
  EXPECT_EQ(st.kind(), "PolicyNotAuthorized");
  body.erase("uuid");
  body["members"] = members;
  EXPECT_EQ(Refusal(body).code(), Code::kForbidden);

  body["uuid"] = uuid;
  auto r = Parse(body, /*admin=*/true);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->capsule.uuid, uuid);
  EXPECT_EQ(r->members[0].uuid, "aaaaaaaa-1111-4222-8333-944455556666");
  EXPECT_EQ(r->members[0].name, "zun-init");
  EXPECT_TRUE(r->members[0].init_container);
  EXPECT_EQ(r->members[1].name, "zun-nginx");
  EXPECT_EQ(*r->members[1].capsule_id, uuid);
  EXPECT_EQ(r->capsule.init_containers, (std::vector<std::string>{"aaaaaaaa-1111-4222-8333-944455556666"}));

  json short_list = body;
  short_list["members"].erase(1);
  st = Refusal(short_list, true);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("members has 1 entries but the template has 2"), std::string::npos) << st.message();
  json twice = body;
  twice["members"][1]["uuid"] = twice["members"][0]["uuid"];
  EXPECT_EQ(Refusal(twice, true).code(), Code::kInvalidArgument);
  json bad = body;
  bad["members"][0]["uuid"] = "nope";
  EXPECT_EQ(Refusal(bad, true).code(), Code::kInvalidArgument);
  bad = body;
  bad["members"][0]["extra"] = 1;
  EXPECT_EQ(Refusal(bad, true).code(), Code::kInvalidArgument);
  bad = body;
  bad["uuid"] = 7;
  EXPECT_EQ(Refusal(bad, true).code(), Code::kInvalidArgument);
}

// The view.
struct ViewFixture {
  CapsuleRequest req;
  std::vector<Container> inits, containers;
  ViewFixture() {
    json t = ZunInitExample();
    t["metadata"]["labels"] = {{"app", "web"}};
    t["metadata"]["annotations"] = {{"note", "x"}};
    auto r = Parse(Body(t));
    req = std::move(*r);
    req.capsule.host = "node-1";
    for (const auto& m : req.members) (m.init_container ? inits : containers).push_back(m);
  }
  json View(const ApiVersion& v, bool admin = false) const {
    return CapsuleView(req.capsule, inits, containers, "http://h:9517", v, TimePoint{}, admin);
  }
};

std::set<std::string> Keys(const json& j) {
  std::set<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.insert(it.key());
  return out;
}

TEST(CapsuleView, Legacy131) {
  ViewFixture f;
  json j = f.View(v1_31);
  EXPECT_EQ(Keys(j), (std::set<std::string>{"uuid", "links", "volumes_info", "containers_uuids", "init_containers_uuids",
                                            "capsule_version", "user_id", "project_id", "created_at", "updated_at",
                                            "addresses", "status", "status_reason", "restart_policy", "meta_name",
                                            "meta_labels", "memory", "cpu", "containers"}));
  EXPECT_EQ(j["restart_policy"], "always");
  EXPECT_EQ(j["meta_name"], "init-demo");
  EXPECT_EQ(j["meta_labels"], json({{"app", "web"}}));
  EXPECT_EQ(j["volumes_info"], json::object());
  EXPECT_EQ(j["containers_uuids"], json::array());
  EXPECT_EQ(j["capsule_version"], "");
  EXPECT_EQ(j["memory"], "0");
  EXPECT_EQ(j["status"], "Creating");
  EXPECT_EQ(j["links"][0]["href"], "http://h:9517/v1/capsules/" + f.req.capsule.uuid);
  ASSERT_EQ(j["containers"].size(), 1u);
  EXPECT_EQ(j["containers"][0]["uuid"], f.containers[0].uuid);
  EXPECT_EQ(f.View(v1_1), j);
}

TEST(CapsuleView, From132) {
  ViewFixture f;
  json j = f.View(v1_32);
  EXPECT_EQ(Keys(j), (std::set<std::string>{"uuid", "links", "user_id", "project_id", "created_at", "updated_at",
                                            "addresses", "status", "status_reason", "restart_policy", "name", "labels",
                                            "memory", "cpu", "containers"}));
  EXPECT_EQ(j["restart_policy"], json::parse(R"({"Name": "always", "MaximumRetryCount": "0"})"));
  EXPECT_EQ(j["name"], "init-demo");
  EXPECT_EQ(f.View(v1_33), j);
}

TEST(CapsuleView, InitContainersFrom134AnnotationsFrom138) {
  ViewFixture f;
  json j = f.View(v1_34);
  ASSERT_TRUE(j.contains("init_containers"));
  ASSERT_EQ(j["init_containers"].size(), 1u);
  EXPECT_EQ(j["init_containers"][0]["uuid"], f.inits[0].uuid);
  EXPECT_EQ(j["init_containers"][0]["restart_policy"]["Name"], "on-failure");
  EXPECT_FALSE(j.contains("annotations"));
  EXPECT_FALSE(f.View(v1_37).contains("annotations"));
  j = f.View(v1_38);
  EXPECT_EQ(j["annotations"], json({{"note", "x"}}));
  EXPECT_TRUE(j.contains("init_containers"));
}

TEST(CapsuleView, HostOnlyForAdmins) {
  ViewFixture f;
  EXPECT_FALSE(f.View(v1_40).contains("host"));
  json j = f.View(v1_40, /*admin=*/true);
  EXPECT_EQ(j["host"], "node-1");
  EXPECT_EQ(f.View(v1_31, true)["host"], "node-1");
  // Members are ContainerViews: their admin-only fields follow the same rule.
  EXPECT_FALSE(f.View(v1_40)["containers"][0].contains("image_pull_policy"));
  EXPECT_TRUE(j["containers"][0].contains("image_pull_policy"));
}

}  // namespace
}  // namespace zunvm
