#include "image/manifest.h"

#include "image/auth_challenge.h"

#include <gtest/gtest.h>

namespace zunvm::image {
namespace {

using nlohmann::json;

std::string D(char c) { return "sha256:" + std::string(64, c); }

TEST(AuthChallenge, BearerParamsQuotedOrNotAndJunk) {
  auto c = ParseChallenge(R"(Bearer realm="https://auth.example/token",Service=registry.example, scope="repository:a/b:pull,push")");
  EXPECT_EQ(c["scheme"], "bearer");
  EXPECT_EQ(c["realm"], "https://auth.example/token");
  EXPECT_EQ(c["service"], "registry.example");
  EXPECT_EQ(c["scope"], "repository:a/b:pull,push");  // the comma inside quotes stays
  EXPECT_TRUE(ParseChallenge("Bearer").empty());
  auto cut = ParseChallenge(R"(Bearer realm="unterminated, service=x)");
  EXPECT_EQ(cut.count("realm"), 0u);
  EXPECT_EQ(cut["scheme"], "bearer");
  EXPECT_EQ(ParseChallenge("Basic ,,, =,=\"\"")["scheme"], "basic");
}

TEST(ImageManifest, DockerAndOciManifests) {
  json m = {{"schemaVersion", 2}, {"mediaType", kMediaDockerManifest},
            {"config", {{"mediaType", "application/vnd.docker.container.image.v1+json"}, {"digest", D('a')}, {"size", 10}}},
            {"layers", {{{"mediaType", "application/vnd.docker.image.rootfs.diff.tar.gzip"}, {"digest", D('b')}, {"size", 20}},
                        {{"digest", D('c')}, {"size", 30}}}}};
  auto p = ParseManifest(m.dump());
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->config.digest, D('a'));
  ASSERT_EQ(p->layers.size(), 2u);
  EXPECT_EQ(p->layers[1].size, 30);
  EXPECT_EQ(ManifestMediaType(m, ""), kMediaDockerManifest);
  json oci = m;
  oci.erase("mediaType");
  EXPECT_EQ(ManifestMediaType(oci, ""), kMediaOciManifest);
}

TEST(ImageManifest, HostileManifestsAreInvalid) {
  json good = {{"schemaVersion", 2}, {"config", {{"digest", D('a')}, {"size", 1}}}, {"layers", json::array()}};
  for (auto mutate : std::vector<std::function<void(json&)>>{
           [](json& j) { j["schemaVersion"] = 1; },
           [](json& j) { j.erase("config"); },
           [](json& j) { j["config"]["digest"] = "sha256:../../etc/passwd"; },
           [](json& j) { j["config"]["size"] = -1; },
           [](json& j) { j["config"]["size"] = "big"; },
           [](json& j) { j["layers"] = "x"; },
           [](json& j) { j["layers"] = {{{"digest", "md5:abc"}, {"size", 1}}}; },
       }) {
    json j = good;
    mutate(j);
    auto p = ParseManifest(j.dump());
    EXPECT_FALSE(p) << j.dump();
  }
  EXPECT_FALSE(ParseManifest("not json"));
  EXPECT_FALSE(ParseManifest("[]"));
  EXPECT_FALSE(ParseManifest(std::string(5 << 20, ' ')));
}

TEST(ImageManifest, IndexPicksLinuxAmd64) {
  json idx = {{"schemaVersion", 2}, {"mediaType", kMediaOciIndex},
              {"manifests", {{{"digest", D('1')}, {"size", 5}, {"platform", {{"os", "linux"}, {"architecture", "arm64"}}}},
                             {{"digest", D('2')}, {"size", 6}, {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}}}}};
  auto d = SelectPlatform(idx.dump());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->digest, D('2'));
  idx["manifests"].erase(1);
  EXPECT_EQ(SelectPlatform(idx.dump()).error().code(), Code::kNotFound);
  EXPECT_TRUE(IsIndexMediaType(kMediaDockerList));
}

TEST(ImageManifest, ConfigDefaultsRoundTrip) {
  json cfg = {{"architecture", "amd64"}, {"os", "linux"},
              {"rootfs", {{"type", "layers"}, {"diff_ids", {D('e')}}}},
              {"config", {{"Env", {"PATH=/bin", "A=b"}}, {"Entrypoint", {"/bin/sh", "-c"}}, {"Cmd", {"echo hi"}},
                          {"WorkingDir", "/srv"}, {"User", "1000:1000"}, {"ExposedPorts", {{"80/tcp", json::object()}}},
                          {"Labels", {{"k", "v"}}}}}};
  auto c = ParseImageConfig(cfg.dump());
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->entrypoint, (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_EQ(c->cmd, (std::vector<std::string>{"echo hi"}));
  EXPECT_EQ(c->working_dir, "/srv");
  EXPECT_EQ(c->exposed_ports, (std::vector<std::string>{"80/tcp"}));
  EXPECT_EQ(c->labels.at("k"), "v");
  auto back = ConfigFromJson(ConfigToJson(*c));
  ASSERT_TRUE(back);
  EXPECT_EQ(ConfigToJson(*back), ConfigToJson(*c));
  cfg["config"]["Cmd"] = "not a list";
  EXPECT_FALSE(ParseImageConfig(cfg.dump()));
  cfg["config"]["Cmd"] = {1, 2};
  EXPECT_FALSE(ParseImageConfig(cfg.dump()));
  EXPECT_FALSE(ConfigFromJson(json::array()));
}

}  // namespace
}  // namespace zunvm::image
