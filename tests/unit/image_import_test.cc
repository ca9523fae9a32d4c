// Importing docker-save and OCI-layout archives into a real BlobStore in a temp dir.
#include "image/archive_import.h"
#include "image/archive_export.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/sha256.h"
#include "tests/support/tar_builder.h"

namespace zunvm::image {
namespace {

using nlohmann::json;

void WriteTar(const std::string& file, const std::vector<std::pair<std::string, std::string>>& files) {
  std::ofstream(file, std::ios::binary) << testing_util::MakeTar(files);
}

std::string Hex(const std::string& digest) { return digest.substr(7); }

class ImageImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/zunvm-import-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    blobs_ = std::make_unique<BlobStore>(dir_ + "/blobs");
    ASSERT_TRUE(blobs_->Init().ok());
    layer_ = "pretend this is a layer tar";
    config_ = json{{"architecture", "amd64"}, {"os", "linux"},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", {Sha256Digest(layer_)}}}},
                   {"config", {{"Cmd", {"sh"}}, {"Env", {"PATH=/bin"}}, {"WorkingDir", "/w"}}}}.dump();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Result<std::vector<ImportedImage>> Import(const std::vector<std::pair<std::string, std::string>>& files,
                                            const std::string& repo = "") {
    WriteTar(dir_ + "/a.tar", files);
    int fd = ::open((dir_ + "/a.tar").c_str(), O_RDONLY | O_CLOEXEC);
    auto r = ImportArchive(fd, *blobs_, 1 << 30, repo);
    ::close(fd);
    return r;
  }
  std::string dir_, layer_, config_;
  std::unique_ptr<BlobStore> blobs_;
};

TEST_F(ImageImportTest, DockerSaveArchive) {
  std::string cfg_name = Hex(Sha256Digest(config_)) + ".json";
  json manifest = json::array({{{"Config", cfg_name}, {"RepoTags", {"busybox:latest", "busybox:1"}}, {"Layers", {"abc/layer.tar"}}}});
  auto r = Import({{"manifest.json", manifest.dump()}, {cfg_name, config_}, {"abc/layer.tar", layer_}, {"abc/VERSION", "1.0"}});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->size(), 2u);
  const auto& img = (*r)[0];
  EXPECT_EQ(img.repo, "busybox");
  EXPECT_EQ(img.tag, "latest");
  EXPECT_EQ((*r)[1].tag, "1");
  EXPECT_EQ(img.config_digest, Sha256Digest(config_));
  ASSERT_EQ(img.layers.size(), 1u);
  EXPECT_EQ(img.layers[0], Sha256Digest(layer_));
  EXPECT_TRUE(blobs_->Has(img.layers[0]));
  EXPECT_EQ(*blobs_->Read(img.layers[0], 1 << 20), layer_);
  EXPECT_EQ(img.config.cmd, (std::vector<std::string>{"sh"}));
  EXPECT_EQ(img.config.working_dir, "/w");
  auto man = blobs_->Read(img.manifest_digest, 1 << 20);  // the synthesised v2 manifest
  ASSERT_TRUE(man);
  EXPECT_TRUE(ParseManifest(*man));
}

TEST_F(ImageImportTest, ExportIsADockerSaveArchiveThatImportsBack) {
  std::string cfg_name = Hex(Sha256Digest(config_)) + ".json";
  json manifest = json::array({{{"Config", cfg_name}, {"RepoTags", {"team/app:v2"}}, {"Layers", {"abc/layer.tar"}}}});
  auto r = Import({{"manifest.json", manifest.dump()}, {cfg_name, config_}, {"abc/layer.tar", layer_}});
  ASSERT_TRUE(r) << r.error().ToString();
  const ImportedImage& img = (*r)[0];
  ExportedImage e{"team/app:v2", img.config_digest, img.layers};
  auto tar = ExportDockerArchive(*blobs_, e, 1 << 20);
  ASSERT_TRUE(tar) << tar.error().ToString();

  BlobStore other(dir_ + "/other");
  ASSERT_TRUE(other.Init().ok());
  std::ofstream(dir_ + "/export.tar", std::ios::binary) << *tar;
  int fd = ::open((dir_ + "/export.tar").c_str(), O_RDONLY | O_CLOEXEC);
  auto back = ImportArchive(fd, other, 1 << 30);
  ::close(fd);
  ASSERT_TRUE(back) << back.error().ToString();
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].repo, "team/app");
  EXPECT_EQ((*back)[0].tag, "v2");
  EXPECT_EQ((*back)[0].config_digest, img.config_digest);
  EXPECT_EQ((*back)[0].layers, img.layers);

  auto small = ExportDockerArchive(*blobs_, e, 8);
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().code(), Code::kPayloadTooLarge);
  ExportedImage missing{"", img.config_digest, {Sha256Digest("not stored")}};
  auto gone = ExportDockerArchive(*blobs_, missing, 1 << 20);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), Code::kNotFound);
}

TEST_F(ImageImportTest, OciLayoutArchiveWithAnIndex) {
  std::string cfgd = Sha256Digest(config_), layerd = Sha256Digest(layer_);
  std::string man = json{{"schemaVersion", 2}, {"mediaType", kMediaOciManifest},
                         {"config", {{"digest", cfgd}, {"size", config_.size()}}},
                         {"layers", {{{"digest", layerd}, {"size", layer_.size()}}}}}.dump();
  std::string mand = Sha256Digest(man);
  std::string list = json{{"schemaVersion", 2}, {"mediaType", kMediaOciIndex},
                          {"manifests", {{{"digest", mand}, {"size", man.size()}, {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}}}}}.dump();
  std::string listd = Sha256Digest(list);
  json index = {{"schemaVersion", 2},
                {"manifests", {{{"mediaType", kMediaOciIndex}, {"digest", listd}, {"size", list.size()},
                                {"annotations", {{"org.opencontainers.image.ref.name", "3.1"}}}}}}};
  auto r = Import({{"oci-layout", R"({"imageLayoutVersion":"1.0.0"})"}, {"index.json", index.dump()},
                   {"blobs/sha256/" + Hex(listd), list}, {"blobs/sha256/" + Hex(mand), man},
                   {"blobs/sha256/" + Hex(cfgd), config_}, {"blobs/sha256/" + Hex(layerd), layer_}},
                  "team/app");
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].repo, "team/app");
  EXPECT_EQ((*r)[0].tag, "3.1");
  EXPECT_EQ((*r)[0].manifest_digest, mand);
  EXPECT_EQ((*r)[0].layers, (std::vector<std::string>{layerd}));
}

TEST_F(ImageImportTest, BrokenArchivesAreRefused) {
  std::string cfg_name = Hex(Sha256Digest(config_)) + ".json";
  json manifest = json::array({{{"Config", cfg_name}, {"RepoTags", {"x:1"}}, {"Layers", {"l.tar"}}}});
  // A layer the manifest names is missing.
  EXPECT_EQ(Import({{"manifest.json", manifest.dump()}, {cfg_name, config_}}).error().code(), Code::kInvalidArgument);
  // The config is not JSON.
  EXPECT_FALSE(Import({{"manifest.json", manifest.dump()}, {cfg_name, "{{{"}, {"l.tar", layer_}}));
  // OCI blob whose content does not match its path: not found under that digest.
  std::string fake = "sha256:" + std::string(64, 'a');
  json index = {{"schemaVersion", 2}, {"manifests", {{{"digest", fake}, {"size", 3}}}}};
  EXPECT_FALSE(Import({{"index.json", index.dump()}, {"blobs/sha256/" + std::string(64, 'a'), "abc"}}));
  EXPECT_FALSE(Import({{"manifest.json", "[1, 2]"}}));
  EXPECT_FALSE(Import({{"hello.txt", "not an image"}}));
  std::ofstream(dir_ + "/garbage") << "this is not a tar at all";
  int fd = ::open((dir_ + "/garbage").c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_EQ(ImportArchive(fd, *blobs_, 1 << 30).error().code(), Code::kInvalidArgument);
  ::close(fd);
  // Past the size cap.
  WriteTar(dir_ + "/big.tar", {{"manifest.json", std::string(4096, ' ')}});
  fd = ::open((dir_ + "/big.tar").c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_EQ(ImportArchive(fd, *blobs_, 100).error().code(), Code::kPayloadTooLarge);
  ::close(fd);
  EXPECT_TRUE(std::filesystem::is_empty(dir_ + "/blobs/tmp"));  // nothing half-written left
}

TEST_F(ImageImportTest, BlobStoreVerifiesDigestAndSize) {
  std::string data = "hello";
  auto d = blobs_->PutBytes(data);
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, Sha256Digest(data));
  size_t off = 0;
  auto reader = [&](char* buf, size_t cap) -> Result<size_t> {
    size_t n = std::min(cap, data.size() - off);
    std::memcpy(buf, data.data() + off, n);
    off += n;
    return n;
  };
  std::string wrong = "sha256:" + std::string(64, 'b');
  EXPECT_EQ(blobs_->Put(wrong, -1, 1 << 20, reader).error().code(), Code::kInvalidArgument);
  EXPECT_FALSE(blobs_->Has(wrong));
  off = 0;
  EXPECT_FALSE(blobs_->Put("", 3, 1 << 20, reader));  // longer than declared
  EXPECT_TRUE(std::filesystem::is_empty(dir_ + "/blobs/tmp"));
}

}  // namespace
}  // namespace zunvm::image
