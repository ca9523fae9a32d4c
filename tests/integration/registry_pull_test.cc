// Pulls from a real registry: Debian's docker-registry started here on 127.0.0.1 and a free
// port (storage in a temp dir), images pushed into it with Debian's skopeo from archives this
// test builds, and pulled through the real ImageService (RegistryClient, BlobStore, layer
// unpacking, the per-image ext4 disk) into a real SQLite file.
#include <fcntl.h>
#include <sys/stat.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/sha256.h"
#include "common/subprocess.h"
#include "db/action_store.h"
#include "db/container_store.h"
#include "tests/fakes/fake_driver.h"
#include "service/container_service.h"
#include "service/log_store.h"
#include "common/serial_executor.h"
#include "db/database.h"
#include "rest/http.h"
#include "service/image_service.h"
#include "tests/support/tar_builder.h"
#include "tests/unit/test_util.h"

extern char** environ;

namespace zunvm {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

bool PortOpen(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A docker-save archive with three layers: files, then a whiteout and an opaque directory.
std::string LayeredArchive(const std::string& flavour = "base") {
  std::string l1 = testing_util::MakeTar({{"keep.txt", flavour}, {"gone.txt", "doomed"}, {"dir/old.txt", "old"}});
  std::string l2 = testing_util::MakeTar({{".wh.gone.txt", ""}, {"dir/.wh..wh..opq", ""}, {"dir/new.txt", "new"}});
  std::string l3 = testing_util::MakeTar({{"top.txt", "top"}});
  json cfg = {{"architecture", "amd64"}, {"os", "linux"},
              {"rootfs", {{"type", "layers"}, {"diff_ids", {Sha256Digest(l1), Sha256Digest(l2), Sha256Digest(l3)}}}},
              {"config", {{"Entrypoint", {"/bin/app"}}, {"Cmd", {"--serve"}}, {"Env", {"MODE=prod"}}, {"WorkingDir", "/srv"},
                          {"User", "1000:1000"}}}};
  std::string cfg_name = Sha256Digest(cfg.dump()).substr(7) + ".json";
  json manifest = json::array({{{"Config", cfg_name}, {"RepoTags", {"team/layers:1"}},
                                {"Layers", {"1/layer.tar", "2/layer.tar", "3/layer.tar"}}}});
  return testing_util::MakeTar({{"manifest.json", manifest.dump()}, {cfg_name, cfg.dump()},
                                {"1/layer.tar", l1}, {"2/layer.tar", l2}, {"3/layer.tar", l3}});
}

class RegistryPullTest : public ::testing::Test {
 protected:
  void SetUp() override { StartRegistry(""); }

  // Starts docker-registry; `extra_yaml` goes into its config (an auth section, or a tls
  // section under http).
  void StartRegistry(const std::string& extra_yaml) {
    auto port = PickFreePort("127.0.0.1");
    ASSERT_TRUE(port);
    port_ = *port;
    reg_ = "127.0.0.1:" + std::to_string(port_);
    std::ofstream(dir_.path() + "/registry.yml")
        << "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: " << dir_.path()
        << "/registry\nhttp:\n  addr: " << reg_ << "\n" << extra_yaml;
    registry_pid_ = Spawn({"docker-registry", "serve", dir_.path() + "/registry.yml"}, dir_.path() + "/registry.log");
    ASSERT_GT(registry_pid_, 0);
    ASSERT_TRUE(testing_util::Eventually([&] { return PortOpen(port_); }, std::chrono::seconds(20)));
    auto db = Database::Open(dir_.path() + "/zunvm.sqlite");
    ASSERT_TRUE(db);
    db_ = std::move(*db);
    containers_ = std::make_unique<ContainerStore>(db_.get());
    images_ = std::make_unique<ImageService>(db_.get(), containers_.get(), dir_.path() + "/state/images");
    ASSERT_TRUE(images_->Init().ok());
  }
  // posix_spawnp with stdout and stderr appended to `log`.
  static pid_t Spawn(std::vector<std::string> argv, const std::string& log) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
  }
  void Stop(pid_t& pid) {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
    pid = -1;
  }
  void TearDown() override {
    Stop(registry_pid_);
    Stop(token_pid_);
  }
  // skopeo copy of a docker-save archive into the registry.
  void Push(const std::string& archive_bytes, const std::string& dest, const std::string& creds = "") {
    std::string file = dir_.path() + "/push.tar";
    std::ofstream(file, std::ios::binary) << archive_bytes;
    std::vector<std::string> argv = {"skopeo", "copy", "--quiet", "--dest-tls-verify=false"};
    if (!creds.empty()) argv.push_back("--dest-creds=" + creds);
    argv.push_back("docker-archive:" + file);
    argv.push_back("docker://" + reg_ + "/" + dest);
    auto r = RunProcess(argv);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->exit_code, 0) << r->output;
  }
  std::string DiskFile(const ImageRecord& r) { return dir_.path() + "/state/images/rootfs/" + r.image_id.substr(7) + ".ext4"; }
  std::string DebugFs(const std::string& disk, const std::string& cmd) {
    auto r = RunProcess({"debugfs", "-R", cmd, disk});
    return r ? r->output : "";
  }

  testing_util::TempDir dir_;
  int port_ = 0;
  std::string reg_;
  pid_t registry_pid_ = -1;
  pid_t token_pid_ = -1;
  std::unique_ptr<Database> db_;
  std::unique_ptr<ContainerStore> containers_;
  std::unique_ptr<ImageService> images_;
};

TEST_F(RegistryPullTest, MultiLayerImageWithWhiteoutsByTagAndByDigest) {
  Push(LayeredArchive(), "team/layers:1");
  auto img = images_->Pull(reg_ + "/team/layers:1");
  ASSERT_TRUE(img) << img.error().ToString();
  EXPECT_EQ(img->repo, reg_ + "/team/layers");
  EXPECT_EQ(img->tag, "1");
  EXPECT_EQ(img->layers.size(), 3u);
  EXPECT_EQ(img->config["entrypoint"], json({"/bin/app"}));
  EXPECT_EQ(img->config["working_dir"], "/srv");
  // The flattened root: the whiteout removed gone.txt, the opaque dir dropped old.txt.
  std::string ls = DebugFs(DiskFile(*img), "ls -p /");
  EXPECT_NE(ls.find("/keep.txt/"), std::string::npos) << ls;
  EXPECT_NE(ls.find("/top.txt/"), std::string::npos) << ls;
  EXPECT_EQ(ls.find("gone.txt"), std::string::npos) << ls;
  std::string dir = DebugFs(DiskFile(*img), "ls -p /dir");
  EXPECT_NE(dir.find("/new.txt/"), std::string::npos) << dir;
  EXPECT_EQ(dir.find("old.txt"), std::string::npos) << dir;
  EXPECT_NE(DebugFs(DiskFile(*img), "cat /keep.txt").find("base"), std::string::npos);

  auto pinned = images_->Pull(reg_ + "/team/layers@" + img->digest);
  ASSERT_TRUE(pinned) << pinned.error().ToString();
  EXPECT_EQ(pinned->image_id, img->image_id);
  auto missing = images_->Pull(reg_ + "/team/layers:nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
}

TEST_F(RegistryPullTest, ManifestListResolvesToLinuxAmd64AndConcurrentPullsAgree) {
  Push(LayeredArchive(), "team/layers:1");
  Push(LayeredArchive("other"), "team/layers:arm");
  // A manifest list naming the first for linux/amd64, the second (listed first) for arm64.
  auto get = [&](const std::string& tag) {
    return RunProcess({"curl", "-sf", "-H", "Accept: application/vnd.docker.distribution.manifest.v2+json",
                       "http://" + reg_ + "/v2/team/layers/manifests/" + tag});
  };
  auto man = get("1");
  auto arm = get("arm");
  ASSERT_TRUE(man && arm);
  ASSERT_EQ(man->exit_code, 0);
  json list = {{"schemaVersion", 2}, {"mediaType", "application/vnd.docker.distribution.manifest.list.v2+json"},
               {"manifests", {{{"mediaType", "application/vnd.docker.distribution.manifest.v2+json"},
                               {"digest", Sha256Digest(arm->output)}, {"size", arm->output.size()},
                               {"platform", {{"architecture", "arm64"}, {"os", "linux"}}}},
                              {{"mediaType", "application/vnd.docker.distribution.manifest.v2+json"},
                               {"digest", Sha256Digest(man->output)}, {"size", man->output.size()},
                               {"platform", {{"architecture", "amd64"}, {"os", "linux"}}}}}}};
  std::string lf = dir_.path() + "/list.json";
  std::ofstream(lf) << list.dump();
  auto put = RunProcess({"curl", "-sf", "-X", "PUT", "-H",
                         "Content-Type: application/vnd.docker.distribution.manifest.list.v2+json",
                         "--data-binary", "@" + lf, "http://" + reg_ + "/v2/team/layers/manifests/multi"});
  ASSERT_TRUE(put);
  ASSERT_EQ(put->exit_code, 0) << put->output;
  Result<ImageRecord> a = Err(Status::Internal("unset")), b = Err(Status::Internal("unset"));
  std::thread t1([&] { a = images_->Pull(reg_ + "/team/layers:multi"); });
  std::thread t2([&] { b = images_->Pull(reg_ + "/team/layers:multi"); });
  t1.join();
  t2.join();
  ASSERT_TRUE(a) << a.error().ToString();
  ASSERT_TRUE(b) << b.error().ToString();
  EXPECT_EQ(a->uuid, b->uuid);
  EXPECT_EQ(a->digest, Sha256Digest(man->output));  // the platform manifest, not the list
  // One download for both: every layer was fetched from the registry once.
  std::ifstream log(dir_.path() + "/registry.log");
  std::string all((std::istreambuf_iterator<char>(log)), {});
  for (const auto& layer : a->layers) {
    std::string get = "GET /v2/team/layers/blobs/" + layer;
    size_t n = 0;
    for (size_t at = all.find(get); at != std::string::npos; at = all.find(get, at + 1)) ++n;
    EXPECT_EQ(n, 1u) << layer;
  }
}

TEST_F(RegistryPullTest, CorruptedBlobIsRejectedByDigest) {
  Push(LayeredArchive(), "team/layers:1");
  // Flip the content of every layer blob in the registry's storage.
  int corrupted = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir_.path() + "/registry")) {
    if (e.path().filename() == "data" && fs::file_size(e.path()) > 200 && fs::file_size(e.path()) < 100000) {
      std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(100);
      f.put('X');
      ++corrupted;
    }
  }
  ASSERT_GT(corrupted, 0);
  auto img = images_->Pull(reg_ + "/team/layers:1");
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), Code::kInvalidArgument) << img.error().ToString();
  EXPECT_NE(img.error().message().find("digest"), std::string::npos) << img.error().message();
  EXPECT_TRUE(images_->List()->empty());
  EXPECT_TRUE(fs::is_empty(dir_.path() + "/state/images/blobs/tmp"));
}

TEST_F(RegistryPullTest, TokenAuthFromTheChallengeWithConfiguredCredentials) {
  // Re-start the registry behind token auth: a test token service signs JWTs with a
  // throw-away key whose certificate the registry trusts.
  Stop(registry_pid_);
  std::string d = dir_.path();
  auto cert = RunProcess({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/key.pem", "-out",
                          d + "/cert.pem", "-days", "1", "-subj", "/CN=zunvm-test-token"});
  ASSERT_TRUE(cert);
  ASSERT_EQ(cert->exit_code, 0) << cert->output;
  token_pid_ = Spawn({"/usr/bin/python3", ZUNVM_SOURCE_DIR "/tests/integration/token_server.py", d + "/token.port",
                      d + "/key.pem", d + "/cert.pem", "zunvm-test-issuer", "alice:secret"},
                     d + "/token.log");
  ASSERT_GT(token_pid_, 0);
  ASSERT_TRUE(testing_util::Eventually([&] { return fs::exists(d + "/token.port"); }, std::chrono::seconds(20)));
  std::string tport;
  std::ifstream(d + "/token.port") >> tport;
  StartRegistry("auth:\n  token:\n    realm: http://127.0.0.1:" + tport +
                "/token\n    service: zunvm-test\n    issuer: zunvm-test-issuer\n    rootcertbundle: " + d +
                "/cert.pem\n");
  Push(LayeredArchive(), "team/private:1", "alice:secret");

  auto anonymous = images_->Pull(reg_ + "/team/private:1");
  ASSERT_FALSE(anonymous);
  EXPECT_EQ(anonymous.error().code(), Code::kUnauthorized) << anonymous.error().ToString();
  ASSERT_TRUE(images_->SetRegistryCredentials({reg_ + "=alice:wrong"}).ok());
  auto wrong = images_->Pull(reg_ + "/team/private:1");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), Code::kUnauthorized) << wrong.error().ToString();
  ASSERT_TRUE(images_->SetRegistryCredentials({reg_ + "=alice:secret"}).ok());
  auto ok = images_->Pull(reg_ + "/team/private:1");
  ASSERT_TRUE(ok) << ok.error().ToString() << "\n" << RunProcess({"tail", "-5", d + "/registry.log"})->output;
  EXPECT_EQ(ok->layers.size(), 3u);
  EXPECT_FALSE(images_->SetRegistryCredentials({"no-equals-sign"}).ok());
}

// A create whose image is not here: the service pulls it (task_state image_pulling), takes the
// image's defaults and hands the driver the image's root disk. The fake driver stands in for
// the VM driver here, asking for images as that one does.
TEST_F(RegistryPullTest, CreatePullsAMissingImageAndAppliesItsDefaults) {
  Push(LayeredArchive(), "team/layers:1");
  ActionStore actions(db_.get());
  LogStore logs(dir_.path() + "/logs", 1 << 20);
  FakeDriver driver;
  driver.SetUsesImages(true);
  SerialExecutor exec(2);
  Config cfg;
  cfg.host = "h";
  SystemClock clock;
  ContainerService svc(ContainerServiceDeps{.cfg = &cfg, .store = containers_.get(), .actions = &actions,
                                           .logs = &logs, .driver = &driver, .executor = &exec,
                                           .clock = &clock, .images = images_.get()});
  driver.SetEvents(&svc);
  RequestContext ctx;
  ctx.user_id = ctx.project_id = "t";

  Container c;
  c.image = reg_ + "/team/layers:1";
  auto made = svc.Create(ctx, c, false);
  ASSERT_TRUE(made) << made.error().ToString();
  ASSERT_TRUE(testing_util::Eventually([&] {
    auto r = containers_->Get(made->uuid);
    return r && r->status == ContainerStatus::kCreated;
  }, std::chrono::seconds(60)));
  auto rec = containers_->Get(made->uuid);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->entrypoint, std::vector<std::string>({"/bin/app"}));
  EXPECT_EQ(rec->command, std::vector<std::string>({"--serve"}));
  EXPECT_EQ(rec->image_environment.at("MODE"), "prod");  // the process's, not the view's
  EXPECT_TRUE(rec->environment.empty());
  EXPECT_EQ(rec->workdir, "/srv");
  auto img = images_->Find(c.image);
  ASSERT_TRUE(img);
  EXPECT_EQ(driver.LastSpec().image_disk, DiskFile(*img));
  EXPECT_TRUE(fs::exists(driver.LastSpec().image_disk));
  EXPECT_EQ(driver.LastSpec().user, "1000:1000");
  EXPECT_EQ(driver.LastSpec().env.at("MODE"), "prod");
  // Its own writable disk, sparse (a 10 GiB default costs next to nothing), gone with it.
  std::string upper = driver.LastSpec().upper_disk;
  ASSERT_FALSE(upper.empty());
  ASSERT_TRUE(fs::exists(upper));
  EXPECT_NE(DebugFs(upper, "stats").find("zunvm-upper"), std::string::npos);
  struct stat st{};
  ASSERT_EQ(::stat(upper.c_str(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, 512 << 20);
  ASSERT_TRUE(svc.Delete(ctx, made->uuid, true, false).ok());
  ASSERT_TRUE(testing_util::Eventually([&] { return !fs::exists(upper); }, std::chrono::seconds(30)));

  // Not in the registry: the container goes to Error with the reason.
  Container bad;
  bad.image = reg_ + "/team/none:1";
  auto b = svc.Create(ctx, bad, false);
  ASSERT_TRUE(b);
  ASSERT_TRUE(testing_util::Eventually([&] { return containers_->Get(b->uuid)->status == ContainerStatus::kError; },
                                       std::chrono::seconds(60)));
  EXPECT_NE(containers_->Get(b->uuid)->status_reason.value_or("").find("not in registry"), std::string::npos)
      << containers_->Get(b->uuid)->status_reason.value_or("");
  // `never` with a missing image is refused at once.
  Container never;
  never.image = reg_ + "/team/none:2";
  never.image_pull_policy = "never";
  EXPECT_EQ(svc.Create(ctx, never, false).error().code(), Code::kNotFound);
  exec.Shutdown();
}

TEST_F(RegistryPullTest, HttpsWithAConfiguredCa) {
  Stop(registry_pid_);
  std::string d = dir_.path();
  // A throw-away CA and a server certificate for 127.0.0.1 signed by it.
  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/ca.key", "-out", d + "/ca.pem",
            "-days", "1", "-subj", "/CN=zunvm-test-ca"},
           {"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/srv.key", "-out", d + "/srv.csr", "-subj",
            "/CN=127.0.0.1"},
       }) {
    auto r = RunProcess(cmd);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->exit_code, 0) << r->output;
  }
  std::ofstream(d + "/san.ext") << "subjectAltName = IP:127.0.0.1\n";
  auto sign = RunProcess({"openssl", "x509", "-req", "-in", d + "/srv.csr", "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key",
                          "-CAcreateserial", "-out", d + "/srv.pem", "-days", "1", "-extfile", d + "/san.ext"});
  ASSERT_TRUE(sign);
  ASSERT_EQ(sign->exit_code, 0) << sign->output;
  StartRegistry("  tls:\n    certificate: " + d + "/srv.pem\n    key: " + d + "/srv.key\n");
  Push(LayeredArchive(), "team/tls:1");

  auto untrusted = images_->Pull(reg_ + "/team/tls:1");  // the CA is not known yet
  ASSERT_FALSE(untrusted);
  images_->SetRegistryCaFile(d + "/ca.pem");
  auto ok = images_->Pull(reg_ + "/team/tls:1");
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->layers.size(), 3u);
}

TEST_F(RegistryPullTest, SearchListsMatchingRepositoriesWithTheirTags) {
  Push(LayeredArchive(), "team/layers:1");
  Push(LayeredArchive("two"), "team/layers:2");
  Push(LayeredArchive("other"), "other/thing:1");
  auto named = images_->Search(reg_ + "/team", false);
  ASSERT_TRUE(named) << named.error().ToString();
  ASSERT_EQ(named->size(), 1u) << named->dump();
  EXPECT_EQ((*named)[0]["Name"], reg_ + "/team/layers");
  EXPECT_EQ((*named)[0]["Tags"], json({"1", "2"}));
  auto exact = images_->Search(reg_ + "/other/thing", true);
  ASSERT_TRUE(exact);
  ASSERT_EQ(exact->size(), 1u);
  EXPECT_EQ(images_->Search(reg_ + "/other", true)->size(), 0u);
  // Without a registry in the term: the configured ones are searched.
  EXPECT_EQ(images_->Search("thing", false)->size(), 0u);
  images_->SetInsecureRegistries({reg_});
  EXPECT_EQ(images_->Search("thing", false)->size(), 1u);
  EXPECT_FALSE(images_->Search("", false));
}

TEST_F(RegistryPullTest, BlobRedirectsAreFollowed) {
  Push(LayeredArchive(), "team/layers:1");
  std::string d = dir_.path();
  token_pid_ = Spawn({"/usr/bin/python3", ZUNVM_SOURCE_DIR "/tests/integration/blob_redirector.py", d + "/front.port",
                      "http://" + reg_},
                     d + "/front.log");
  ASSERT_GT(token_pid_, 0);
  ASSERT_TRUE(testing_util::Eventually([&] { return fs::exists(d + "/front.port"); }, std::chrono::seconds(20)));
  std::string fport;
  std::ifstream(d + "/front.port") >> fport;
  auto img = images_->Pull("127.0.0.1:" + fport + "/team/layers:1");
  ASSERT_TRUE(img) << img.error().ToString();
  EXPECT_EQ(img->layers.size(), 3u);
  // The blobs really came through redirects to the registry itself.
  std::ifstream log(d + "/registry.log");
  std::string all((std::istreambuf_iterator<char>(log)), {});
  EXPECT_NE(all.find("GET /v2/team/layers/blobs/" + img->layers[0]), std::string::npos);
}

// A port on loopback with nothing listening: a mirror that is down.
std::string DeadMirror() {
  auto port = PickFreePort("127.0.0.1");
  return port ? "127.0.0.1:" + std::to_string(*port) : "";
}

TEST_F(RegistryPullTest, MirrorsServeDockerHubNamesInOrderAndTheImageKeepsItsName) {
  // The local registry holds what Docker Hub would: cirros:latest is library/cirros there.
  Push(LayeredArchive(), "library/cirros:latest");
  std::string dead = DeadMirror();
  ASSERT_TRUE(images_->SetRegistryMirrors({"docker.io=" + dead, "docker.io=" + reg_}).ok());
  // The first mirror is down, the second answers; Docker Hub itself is never asked (the
  // mirror answered), and the image is cirros:latest, not the mirror's name for it.
  auto img = images_->Pull("cirros");
  ASSERT_TRUE(img) << img.error().ToString();
  EXPECT_EQ(img->repo, "cirros");
  EXPECT_EQ(img->tag, "latest");
  EXPECT_EQ(img->layers.size(), 3u);
  std::ifstream log(dir_.path() + "/registry.log");
  std::string all((std::istreambuf_iterator<char>(log)), {});
  EXPECT_NE(all.find("GET /v2/library/cirros/manifests/latest"), std::string::npos) << all;
}

TEST_F(RegistryPullTest, ARegistryIsTheFallbackOfItsMirrorsAndTheirErrorsAreNamed) {
  Push(LayeredArchive(), "team/layers:1");
  std::string dead = DeadMirror();
  ASSERT_TRUE(images_->SetRegistryMirrors({reg_ + "=" + dead}).ok());
  auto img = images_->Pull(reg_ + "/team/layers:1");  // the mirror is down: from the registry
  ASSERT_TRUE(img) << img.error().ToString();
  EXPECT_EQ(img->repo, reg_ + "/team/layers");
  // Neither has it: the registry's own answer (404), with what each mirror said.
  auto missing = images_->Pull(reg_ + "/team/none:1");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound) << missing.error().ToString();
  EXPECT_NE(missing.error().message().find("mirrors: " + dead + ":"), std::string::npos) << missing.error().ToString();
}

TEST_F(RegistryPullTest, MalformedMirrorEntriesAreRefused) {
  for (const std::string bad : {"docker.io", "=127.0.0.1:5000", "docker.io=", "docker.io=http://127.0.0.1:5000",
                                "docker.io=docker.io", "docker.io=a b"}) {
    Status st = images_->SetRegistryMirrors({bad});
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(st.message().find("registry_mirrors"), std::string::npos) << st.message();
  }
}

TEST_F(RegistryPullTest, BasicAuthToTheRegistryFromConfiguredCredentials) {
  Stop(registry_pid_);
  std::string d = dir_.path();
  auto hash = RunProcess({"/usr/bin/python3", "-W", "ignore", "-c",
                          "import crypt; print(crypt.crypt('secret', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))"});
  ASSERT_TRUE(hash);
  ASSERT_EQ(hash->exit_code, 0) << hash->output;
  std::ofstream(d + "/htpasswd") << "bob:" << hash->output;
  StartRegistry("auth:\n  htpasswd:\n    realm: zunvm-test\n    path: " + d + "/htpasswd\n");
  Push(LayeredArchive(), "team/basic:1", "bob:secret");
  auto anonymous = images_->Pull(reg_ + "/team/basic:1");
  ASSERT_FALSE(anonymous);
  EXPECT_EQ(anonymous.error().code(), Code::kUnauthorized) << anonymous.error().ToString();
  ASSERT_TRUE(images_->SetRegistryCredentials({reg_ + "=bob:secret"}).ok());
  auto ok = images_->Pull(reg_ + "/team/basic:1");
  ASSERT_TRUE(ok) << ok.error().ToString();
}

}  // namespace
}  // namespace zunvm
