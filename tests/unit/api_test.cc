// The API end to end in-process: a real Daemon (SQLite in a temp dir, the fake driver, the
// HTTP server on port 0) driven through Api::Handle with hand-made requests.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "tests/support/tar_builder.h"
#include "tests/unit/api_fixture.h"

namespace zunvm {
namespace {

using nlohmann::json;
using testing_util::Eventually;
using testing_util::TempDir;
using testing_util::ApiTest;

TEST_F(ApiTest, RootAndVersionHeaders) {
  auto root = Call("GET", "/", "", "");
  EXPECT_EQ(root.status, 200);
  EXPECT_EQ(Body(root)["versions"][0]["max_version"], "1.40");
  auto v1 = Call("GET", "/v1", "", "");
  EXPECT_EQ(v1.status, 200);
  bool has_version = false;
  for (auto& [k, v] : v1.headers) {
    if (k == "OpenStack-API-Version") has_version = v == "container 1.1";
  }
  EXPECT_TRUE(has_version);
  EXPECT_EQ(Call("GET", "/v1/containers", "", "container 1.41").status, 406);
  EXPECT_EQ(Call("GET", "/v1/nothing").status, 404);
  auto m = Call("PUT", "/v1/containers");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(Body(m)["errors"][0]["code"], "container.method-not-allowed");
  EXPECT_EQ(Call("GET", "/containers/").status, 200);  // version-less with trailing slash
}

TEST_F(ApiTest, RunLifecycleAndLogs) {
  std::string id = Run(R"({"name": "web", "image": "busybox", "command": ["sleep", "inf"]})");
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "Running"; }));
  auto show = Body(Call("GET", "/v1/containers/web"));
  EXPECT_EQ(show["uuid"], id);
  EXPECT_EQ(show["memory"], "512");
  EXPECT_EQ(show["status_detail"].get<std::string>().rfind("Up ", 0), 0u);

  auto ex = Call("POST", "/v1/containers/web/execute?command=%22echo%22+%22hi%22", "");
  ASSERT_EQ(ex.status, 200) << ex.body;
  EXPECT_EQ(Body(ex)["output"], "hi\n");
  EXPECT_EQ(Body(ex)["exit_code"], 0);

  EXPECT_EQ(Call("POST", "/v1/containers/web/start").status, 409);
  EXPECT_EQ(Call("POST", "/v1/containers/web/pause").status, 202);
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "Paused"; }));
  EXPECT_EQ(Call("POST", "/v1/containers/web/unpause").status, 202);
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "Running"; }));
  EXPECT_EQ(Call("POST", "/v1/containers/web/stop?timeout=1").status, 202);
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "Stopped"; }));
  auto stopped = Body(Call("GET", "/v1/containers/web"));
  EXPECT_EQ(stopped["status_detail"].get<std::string>().rfind("Exited(143)", 0), 0u);
  EXPECT_EQ(Call("DELETE", "/v1/containers/web").status, 204);
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "gone"; }));

  std::string echo = Run(R"({"image": "busybox", "command": ["sh", "-c", "echo out; echo err >&2"]})");
  ASSERT_TRUE(Eventually([&] { return StatusOf(echo) == "Stopped"; }));
  auto logs = Call("GET", "/v1/containers/" + echo + "/logs?stdout=True&stderr=False");
  ASSERT_EQ(logs.status, 200);
  EXPECT_EQ(Body(logs), "out\n");
  auto both = Body(Call("GET", "/v1/containers/" + echo + "/logs"));
  EXPECT_NE(both.get<std::string>().find("err\n"), std::string::npos);
}

TEST_F(ApiTest, RestartPolicyOnFailureRestartsTwice) {
  std::string id = Run(R"({"image": "busybox", "command": ["sh", "-c", "echo try; exit 3"],
                           "restart_policy": {"Name": "on-failure", "MaximumRetryCount": "2"}})");
  ASSERT_TRUE(Eventually([&] {
    auto logs = Body(Call("GET", "/v1/containers/" + id + "/logs"));
    return StatusOf(id) == "Stopped" && logs == "try\ntry\ntry\n";
  }));
  EXPECT_EQ(Body(Call("GET", "/v1/containers/" + id))["status_detail"].get<std::string>().rfind(
                "Exited(3)", 0),
            0u);
}

TEST_F(ApiTest, AutoRemoveDeletesOnExit) {
  std::string id = Run(R"({"image": "busybox", "command": ["true"], "auto_remove": true})");
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "gone"; }));
}

TEST_F(ApiTest, NamesAreUniqueAndErrorsAreZuns) {
  Run(R"({"name": "twin", "image": "busybox", "command": ["sleep", "inf"]})");
  auto again = Call("POST", "/v1/containers?run=true", R"({"name": "Twin", "image": "busybox"})");
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(Body(again)["errors"][0]["code"], "container.container-already-exists");
  auto nf = Call("GET", "/v1/containers/nosuch");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(Body(nf)["errors"][0]["title"], "Container nosuch could not be found.");
  EXPECT_EQ(Call("POST", "/v1/containers", R"({"image": "busybox"})", "container 1.40",
                 "text/plain").status, 415);
  EXPECT_EQ(Call("POST", "/v1/containers", "{not json").status, 400);
  EXPECT_EQ(Call("GET", "/v1/containers?bogus=1").status, 400);
  EXPECT_EQ(Call("GET", "/v1/containers?limit=0").status, 400);
  EXPECT_EQ(Call("GET", "/v1/containers?sort_dir=sideways").status, 400);
}

// unique_container_name_scope = "" (Zun's default, what Zun's driver needs): a name may be
// shared, and looking it up is then ambiguous.
TEST_F(ApiTest, SharedNamesAreAmbiguousWithoutANameScope) {
  configure_ = [](Config& c) { c.unique_container_name_scope = ""; };
  daemon_.reset();
  Boot();
  Run(R"({"name": "twin", "image": "busybox", "command": ["sleep", "inf"]})");
  Run(R"({"name": "twin", "image": "busybox", "command": ["sleep", "inf"]})");
  auto amb = Call("GET", "/v1/containers/twin");
  EXPECT_EQ(amb.status, 409) << amb.body;
}

TEST_F(ApiTest, CreateWithCallerChosenUuid) {
  const std::string uuid = "5d3a9c1e-0b7f-4c2a-9e61-3f0d8b2a7c44";
  auto r = Call("POST", "/v1/containers", R"({"image": "busybox", "command": ["true"], "uuid": ")" + uuid + "\"}");
  ASSERT_EQ(r.status, 202);
  EXPECT_EQ(Body(r)["uuid"], uuid);
  EXPECT_EQ(Call("GET", "/v1/containers/" + uuid).status, 200);
  auto again = Call("POST", "/v1/containers", R"({"image": "busybox", "uuid": ")" + uuid + "\"}");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(Body(again)["errors"][0]["code"], "container.container-already-exists");
}

TEST_F(ApiTest, ListPaginationFollowsNext) {
  for (int i = 0; i < 5; ++i) Run(R"({"image": "busybox", "command": ["sleep", "inf"]})");
  std::string target = "/v1/containers/?limit=2";
  std::set<std::string> seen;
  for (int page = 0; page < 5 && !target.empty(); ++page) {
    auto r = Body(Call("GET", target));
    for (auto& c : r["containers"]) seen.insert(c["uuid"].get<std::string>());
    if (r["next"].is_null()) break;
    std::string next = r["next"];
    target = next.substr(next.find("/v1/"));
  }
  EXPECT_EQ(seen.size(), 5u);
}

TEST_F(ApiTest, ArchivesRoundTripBase64) {
  std::string id = Run(R"({"name": "files", "image": "busybox", "command": ["sleep", "inf"]})");
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "Running"; }));
  auto get = Call("GET", "/v1/containers/files/get_archive?path=/etc/hostname");
  ASSERT_EQ(get.status, 200) << get.body;
  auto j = Body(get);
  EXPECT_EQ(j["stat"]["name"], "hostname");
  std::string data = j["data"];
  auto put = Call("POST", "/v1/containers/files/put_archive?path=/tmp",
                  json{{"data", data}}.dump());
  EXPECT_EQ(put.status, 200) << put.body;
  auto cat = Body(Call("POST", "/v1/containers/files/execute?command=cat+/tmp/hostname"));
  EXPECT_EQ(cat["exit_code"], 0);
  EXPECT_FALSE(cat["output"].get<std::string>().empty());
  EXPECT_EQ(Call("POST", "/v1/containers/files/put_archive?path=/tmp",
                 json{{"data", "!!notbase64"}}.dump()).status, 400);
}

TEST_F(ApiTest, StateSurvivesRestart) {
  std::string id = Run(R"({"name": "keep", "image": "busybox", "command": ["sleep", "inf"]})");
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "Running"; }));
  ASSERT_TRUE(daemon_->WaitIdle(std::chrono::seconds(5)));
  daemon_.reset();
  Boot();
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "Running"; }));
  auto actions = Body(Call("GET", "/v1/containers/keep/container_actions"));
  ASSERT_GE(actions["containerActions"].size(), 1u);
  EXPECT_EQ(actions["containerActions"].back()["action"], "create");
  auto ex = Body(Call("POST", "/v1/containers/keep/execute?command=hostname"));
  EXPECT_EQ(ex["exit_code"], 0);
}

TEST_F(ApiTest, NetworksAddressesAttachDetachAndRelease) {
  // No nets: the default network, its first free address (the gateway is .1).
  std::string a = Run(R"({"image": "busybox", "command": ["sleep", "100"], "name": "na"})");
  json ca = Body(Call("GET", "/v1/containers/na"));
  ASSERT_EQ(ca["addresses"].size(), 1u) << ca.dump();
  std::string def_net = ca["addresses"].begin().key();
  json addr = ca["addresses"][def_net][0];
  EXPECT_EQ(addr["addr"], "10.88.0.2");
  EXPECT_EQ(addr["version"], 4);
  EXPECT_EQ(addr["preserve_on_delete"], false);
  EXPECT_EQ(addr["port"].get<std::string>().size(), 36u);
  // A named network is made on demand from the pool; a fixed IP is honoured.
  std::string b = Run(R"({"image": "busybox", "command": ["sleep", "100"], "name": "nb",
                          "nets": [{"network": "blue", "v4-fixed-ip": "10.89.0.7"}]})");
  json cb = Body(Call("GET", "/v1/containers/nb"));
  ASSERT_EQ(cb["addresses"].size(), 1u) << cb.dump();
  EXPECT_EQ(cb["addresses"].begin().value()[0]["addr"], "10.89.0.7");
  // The same fixed IP again: 409 and no record; a foreign one: 400; a Neutron port: 400.
  auto dup = Call("POST", "/v1/containers", R"({"image": "busybox", "name": "nc",
                   "nets": [{"network": "blue", "v4-fixed-ip": "10.89.0.7"}]})");
  EXPECT_EQ(dup.status, 409) << dup.body;
  EXPECT_EQ(Body(dup)["errors"][0]["code"], "container.ip-address-in-use");
  EXPECT_EQ(Call("GET", "/v1/containers/nc").status, 404);
  EXPECT_EQ(Call("POST", "/v1/containers", R"({"image": "busybox",
                  "nets": [{"network": "blue", "v4-fixed-ip": "10.1.0.7"}]})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/containers", R"({"image": "busybox",
                  "nets": [{"port": "3f2a9c1e-0b7f-4c2a-9e61-3f0d8b2a7c44"}]})").status, 400);
  // Attach a second network, list it, detach it.
  ASSERT_TRUE(Eventually([&] { return StatusOf(a) == "Running"; }));
  auto att = Call("POST", "/v1/containers/na/network_attach?network=blue", "");
  EXPECT_EQ(att.status, 200) << att.body;
  EXPECT_EQ(Call("POST", "/v1/containers/na/network_attach?network=blue", "").status, 409);
  json list = Body(Call("GET", "/v1/containers/na/network_list"));
  ASSERT_EQ(list["networks"].size(), 2u) << list.dump();
  EXPECT_EQ(Body(Call("GET", "/v1/containers/na"))["addresses"].size(), 2u);
  EXPECT_EQ(Call("POST", "/v1/containers/na/network_detach?network=blue", "").status, 202);
  EXPECT_EQ(Call("POST", "/v1/containers/na/network_detach?network=blue", "").status, 404);
  EXPECT_EQ(Body(Call("GET", "/v1/containers/na"))["addresses"].size(), 1u);
  // Addresses survive a restart; delete frees them for the next container.
  daemon_.reset();
  Boot();
  EXPECT_EQ(Body(Call("GET", "/v1/containers/nb"))["addresses"].begin().value()[0]["addr"], "10.89.0.7");
  ASSERT_EQ(Call("DELETE", "/v1/containers/nb?force=true").status, 204);
  ASSERT_TRUE(Eventually([&] { return StatusOf(b) == "gone"; }));
  Run(R"({"image": "busybox", "command": ["sleep", "100"], "name": "nd",
          "nets": [{"network": "blue", "v4-fixed-ip": "10.89.0.7"}]})");
  EXPECT_EQ(Body(Call("GET", "/v1/containers/nd"))["addresses"].begin().value()[0]["addr"], "10.89.0.7");
}

// Under the fake driver the published host port is really bound (the relay itself is tested
// with real VMs in e2e_vm_network and in port_publisher_test).
TEST_F(ApiTest, ExposedPortsArePublishedWhileRunningAndConflictsAre409) {
  int free_port = 0;
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    free_port = ntohs(a.sin_port);
    ::close(fd);
  }
  auto bound = [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(free_port));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  };
  std::string body = R"({"image": "busybox", "command": ["sleep", "100"], "name": "web",
      "exposed_ports": {"80/tcp": {"host_port": )" + std::to_string(free_port) + R"(}, "53/udp": {}}})";
  std::string id = Run(body);
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "Running"; }));
  json c = Body(Call("GET", "/v1/containers/web"));
  ASSERT_EQ(c["published_ports"].size(), 2u) << c.dump();
  EXPECT_TRUE(bound());
  // The same host port again: 409 at create, nothing stored.
  auto dup = Call("POST", "/v1/containers", R"({"image": "busybox", "name": "web2",
      "exposed_ports": {"8080/tcp": {"host_port": )" + std::to_string(free_port) + R"(}}})");
  EXPECT_EQ(dup.status, 409) << dup.body;
  EXPECT_EQ(Body(dup)["errors"][0]["code"], "container.port-in-use");
  EXPECT_EQ(Call("GET", "/v1/containers/web2").status, 404);
  EXPECT_EQ(Call("POST", "/v1/containers", R"({"image": "busybox",
      "exposed_ports": {"80/tcp": {"host_port": 70000}}})").status, 400);
  // Stopped: unpublished; started again: published again.
  ASSERT_EQ(Call("POST", "/v1/containers/web/stop").status, 202);
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "Stopped"; }));
  EXPECT_FALSE(bound());
  EXPECT_TRUE(Body(Call("GET", "/v1/containers/web"))["published_ports"].empty());
  ASSERT_EQ(Call("POST", "/v1/containers/web/start").status, 202);
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "Running"; }));
  EXPECT_TRUE(bound());
  ASSERT_EQ(Call("DELETE", "/v1/containers/web?force=true").status, 204);
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "gone"; }));
  EXPECT_FALSE(bound());
}

TEST_F(ApiTest, HostsAndStatsAndTop) {
  auto hosts = Call("GET", "/v1/hosts");
  ASSERT_EQ(hosts.status, 200) << hosts.body;
  auto h = Body(hosts)["hosts"][0];
  EXPECT_EQ(h["hostname"], "testhost");
  EXPECT_GE(h["cpus"].get<int>(), 1);
  EXPECT_GT(h["mem_total"].get<int64_t>(), 0);
  EXPECT_EQ(h["runtimes"][0], "kata");
  EXPECT_EQ(Call("GET", "/v1/hosts/" + h["uuid"].get<std::string>()).status, 200);
  EXPECT_EQ(Call("GET", "/v1/hosts", "", "container 1.3").status, 406);
  std::string id = Run(R"({"image": "busybox", "command": ["sleep", "inf"]})");
  ASSERT_TRUE(Eventually([&] { return StatusOf(id) == "Running"; }));
  auto stats = Body(Call("GET", "/v1/containers/" + id + "/stats"));
  for (const char* k : {"CONTAINER", "CPU %", "MEM USAGE(MiB)", "MEM LIMIT(MiB)", "MEM %",
                        "BLOCK I/O(B)", "NET I/O(B)"}) {
    EXPECT_TRUE(stats.contains(k)) << k;
  }
  auto top = Body(Call("GET", "/v1/containers/" + id + "/top?ps_args=None"));
  EXPECT_TRUE(top.contains("Titles"));
  EXPECT_GE(top["Processes"].size(), 1u);
}

// A docker-save archive of `repo_tag` whose config sets the container defaults.
std::string DemoImageArchive(const std::string& repo_tag = "demo:1") {
  std::string layer = testing_util::MakeTar({{"hello.txt", "hi from the image\n"}});
  json cfg = {{"architecture", "amd64"}, {"os", "linux"},
              {"rootfs", {{"type", "layers"}, {"diff_ids", {Sha256Digest(layer)}}}},
              {"config", {{"Cmd", {"echo", "from-image"}}, {"Env", {"FOO=bar", "PATH=/bin"}}, {"WorkingDir", "/w"},
                          {"ExposedPorts", {{"8080/tcp", json::object()}}}}}};
  std::string cfg_name = Sha256Digest(cfg.dump()).substr(7) + ".json";
  json manifest = json::array({{{"Config", cfg_name}, {"RepoTags", {repo_tag}}, {"Layers", {"l/layer.tar"}}}});
  return testing_util::MakeTar({{"manifest.json", manifest.dump()}, {cfg_name, cfg.dump()}, {"l/layer.tar", layer}});
}

TEST_F(ApiTest, ImagesImportListShowDefaultsAndDelete) {
  EXPECT_EQ(Call("POST", "/v1/images/import", "not a tar", "container 1.40", "application/x-tar").status, 400);
  auto imp = Call("POST", "/v1/images/import", DemoImageArchive(), "container 1.40", "application/x-tar");
  ASSERT_EQ(imp.status, 201) << imp.body;
  json img = Body(imp)["images"][0];
  EXPECT_EQ(img["repo"], "demo");
  EXPECT_EQ(img["tag"], "1");
  std::string uuid = img["uuid"];
  // Importing it again keeps the record (same uuid, one row).
  auto again = Call("POST", "/v1/images/import", DemoImageArchive(), "container 1.40", "application/x-tar");
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(Body(again)["images"][0]["uuid"], uuid);
  auto list = Body(Call("GET", "/v1/images"));
  ASSERT_EQ(list["images"].size(), 1u);
  EXPECT_EQ(list["images"][0]["image_id"], img["image_id"]);
  EXPECT_EQ(Call("GET", "/v1/images/" + uuid).status, 200);
  EXPECT_EQ(Body(Call("GET", "/v1/images/demo:1"))["uuid"], uuid);
  EXPECT_EQ(Call("GET", "/v1/images/demo:2").status, 404);
  // The image's rootfs disk exists, built from its layer.
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/images/rootfs/" + img["image_id"].get<std::string>().substr(7) + ".ext4"));

  // A create that leaves them out gets the image's command, env, workdir and ports. The
  // image's Env reaches the process under the caller's; the view shows the caller's only (Zun).
  auto c = Call("POST", "/v1/containers?run=true",
                R"({"image": "demo:1", "name": "envy", "environment": {"FOO": "mine"}, "command": ["sleep", "inf"]})");
  ASSERT_EQ(c.status, 202) << c.body;
  json cj = Body(c);
  EXPECT_EQ(cj["environment"], json({{"FOO", "mine"}}));
  ASSERT_TRUE(Eventually([&] { return StatusOf("envy") == "Running"; }));
  for (auto [var, want] : {std::pair{"FOO", "mine"}, std::pair{"PATH", "/bin"}}) {
    auto env = Body(Call("POST", std::string("/v1/containers/envy/execute?command=printenv+") + var));
    EXPECT_EQ(env["output"], std::string(want) + "\n") << var;
  }
  EXPECT_EQ(Body(Call("GET", "/v1/containers/envy"))["environment"], json({{"FOO", "mine"}}));
  cj = Body(Call("POST", "/v1/containers", R"({"image": "demo:1"})"));
  EXPECT_EQ(cj["command"], json({"echo", "from-image"}));
  EXPECT_EQ(cj["workdir"], "/w");
  EXPECT_EQ(cj["ports"], json({8080}));
  auto own = Body(Call("POST", "/v1/containers", R"({"image": "demo:1", "command": ["true"]})"));
  EXPECT_EQ(own["command"], json({"true"}));

  // Search: registries zunvmd knows (none here), Docker only.
  auto search = Call("GET", "/v1/images/demo/search?exact_match=true");
  EXPECT_EQ(search.status, 200) << search.body;
  EXPECT_EQ(Body(search), json::array());
  EXPECT_EQ(Call("GET", "/v1/images/demo/search?image_driver=glance").status, 400);
  auto named = Call("GET", "/v1/images/team/search?registry=127.0.0.1:9");  // a registry that does not answer
  EXPECT_EQ(named.status, 200) << named.body;
  EXPECT_EQ(Body(named), json::array());
  // Pull policy: a local image is "pulled" at once; a missing one cannot be with `never`.
  EXPECT_EQ(Call("POST", "/v1/images", R"({"repo": "demo", "tag": "1", "host": "testhost"})").status, 202);
  EXPECT_EQ(Call("POST", "/v1/images", R"({"repo": "missing", "host": "testhost", "image_pull_policy": "never"})").status, 404);
  EXPECT_EQ(Call("POST", "/v1/images", R"({"repo": "demo", "host": "testhost", "image_pull_policy": "sometimes"})").status, 400);
  // Not here: pulled from its registry; none listens on this port, so 503 (no network needed).
  EXPECT_EQ(Call("POST", "/v1/images", R"({"repo": "127.0.0.1:9/nothing", "host": "testhost"})").status, 503);
  EXPECT_EQ(Call("POST", "/v1/containers", R"({"image": "missing", "image_pull_policy": "never"})").status, 404);

  // In use: 409; once its containers are gone: 204, and then 404.
  EXPECT_EQ(Call("DELETE", "/v1/images/" + uuid).status, 409);
  ASSERT_TRUE(daemon_->WaitIdle(std::chrono::seconds(10)));
  for (const std::string& id : {std::string("envy"), cj["uuid"].get<std::string>(), own["uuid"].get<std::string>()}) {
    EXPECT_EQ(Call("DELETE", "/v1/containers/" + id + "?force=true").status, 204);
  }
  ASSERT_TRUE(Eventually([&] { return Body(Call("GET", "/v1/containers"))["containers"].empty(); }));
  EXPECT_EQ(Call("DELETE", "/v1/images/" + uuid).status, 204);
  EXPECT_EQ(Call("GET", "/v1/images/" + uuid).status, 404);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/images/rootfs/" + img["image_id"].get<std::string>().substr(7) + ".ext4"));
}

// Zun keeps Docker's image id (inspect's Id) and deletes by it: zunvmd resolves sha256:<hex>
// (and the bare hex) to the one image carrying it, and refuses when several tags share it.
TEST_F(ApiTest, ImagesResolveByDockerImageId) {
  auto imp = Call("POST", "/v1/images/import", DemoImageArchive(), "container 1.40", "application/x-tar");
  ASSERT_EQ(imp.status, 201) << imp.body;
  json img = Body(imp)["images"][0];
  std::string image_id = img["image_id"];
  ASSERT_EQ(image_id.rfind("sha256:", 0), 0u);
  EXPECT_EQ(Body(Call("GET", "/v1/images/" + image_id))["uuid"], img["uuid"]);
  EXPECT_EQ(Body(Call("GET", "/v1/images/" + image_id.substr(7)))["uuid"], img["uuid"]);
  EXPECT_EQ(Call("GET", "/v1/images/sha256:" + std::string(64, '0')).status, 404);

  auto twin = Call("POST", "/v1/images/import", DemoImageArchive("demo:2"), "container 1.40", "application/x-tar");
  ASSERT_EQ(twin.status, 201) << twin.body;
  EXPECT_EQ(Body(twin)["images"][0]["image_id"], image_id);
  auto ambiguous = Call("DELETE", "/v1/images/" + image_id);
  EXPECT_EQ(ambiguous.status, 409) << ambiguous.body;
  EXPECT_NE(ambiguous.body.find("demo:2"), std::string::npos) << ambiguous.body;
  EXPECT_EQ(Call("DELETE", "/v1/images/demo:2").status, 204);
  EXPECT_EQ(Call("DELETE", "/v1/images/" + image_id).status, 204);
  EXPECT_EQ(Call("GET", "/v1/images/" + img["uuid"].get<std::string>()).status, 404);
  EXPECT_EQ(Call("DELETE", "/v1/images/" + image_id).status, 404);
}

TEST_F(ApiTest, HealthchecksMarkHealthAndAutoHealReboots) {
  std::string good = Run(R"({"image": "busybox", "command": ["sleep", "inf"],
                             "healthcheck": {"cmd": "true", "interval": 1, "retries": 2, "timeout": 2}})");
  std::string bad = Run(R"({"image": "busybox", "command": ["sleep", "inf"],
                            "healthcheck": {"cmd": "false", "interval": 1, "retries": 2, "timeout": 2}})");
  std::string heal = Run(R"({"image": "busybox", "command": ["sleep", "inf"], "auto_heal": true,
                             "healthcheck": {"cmd": "false", "interval": 1, "retries": 1, "timeout": 2}})");
  auto detail = [&](const std::string& id) {
    return Body(Call("GET", "/v1/containers/" + id))["status_detail"].get<std::string>();
  };
  ASSERT_TRUE(Eventually([&] { return detail(good).find("(healthy)") != std::string::npos; }, std::chrono::seconds(20)))
      << detail(good);
  ASSERT_TRUE(Eventually([&] { return detail(bad).find("(unhealthy)") != std::string::npos; }, std::chrono::seconds(20)))
      << detail(bad);
  EXPECT_EQ(StatusOf(bad), "Running");  // no auto_heal: only marked
  auto actions = [&](const std::string& id) {
    std::vector<std::string> names;
    json body = Body(Call("GET", "/v1/containers/" + id + "/container_actions"));
    for (const auto& a : body["containerActions"]) {
      names.push_back(a["action"].get<std::string>());
    }
    return names;
  };
  ASSERT_TRUE(Eventually([&] {
    auto a = actions(heal);
    return std::count(a.begin(), a.end(), "reboot") >= 1 && StatusOf(heal) == "Running";
  }, std::chrono::seconds(20))) << StatusOf(heal);
}

}  // namespace
}  // namespace zunvm

namespace zunvm {
namespace {

// The stores' plain errors reach the API with Zun's names (the service names them).
TEST_F(ApiTest, StoreErrorsCarryZunsNames) {
  auto code = [&](const std::string& path) { return Body(Call("GET", path))["errors"][0]["code"]; };
  std::string id = Run(R"({"image": "busybox", "command": ["sleep", "inf"]})");
  EXPECT_EQ(code("/v1/containers/0d4b2f6e-1c8a-4e7b-9b1f-6f0e2a3c4d5e"), "container.container-not-found");
  EXPECT_EQ(code("/v1/containers?marker=0d4b2f6e-1c8a-4e7b-9b1f-6f0e2a3c4d5e"), "container.marker-not-found");
  EXPECT_EQ(code("/v1/containers/" + id + "/container_actions/req-nope"), "container.container-action-not-found");
  EXPECT_EQ(code("/v1/images/nope:1"), "container.image-not-found");
}

}  // namespace
}  // namespace zunvm
