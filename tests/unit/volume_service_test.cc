// VolumeService on a real SQLite file and real (small, sparse) ext4 disks: what a create may
// mount, who may share a volume, what goes with a container and what a crash leaves.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "db/database.h"
#include "service/volume_service.h"
#include "tests/unit/test_util.h"

namespace zunvm {
namespace {

using testing_util::TempDir;
namespace fs = std::filesystem;

class VolumeServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(dir_.path() + "/z.sqlite");
    ASSERT_TRUE(db);
    db_ = std::move(*db);
    store_ = std::make_unique<VolumeStore>(db_.get());
    svc_ = std::make_unique<VolumeService>(cfg_, store_.get(), dir_.path() + "/volumes");
    ctx_.project_id = "p1";
    ctx_.user_id = "u1";
  }
  static Container With(const std::string& uuid, std::vector<ContainerMount> mounts) {
    Container c;
    c.uuid = uuid;
    c.mounts = std::move(mounts);
    return c;
  }
  static ContainerMount Vol(const std::string& source, const std::string& dest, bool ro = false) {
    ContainerMount m;
    m.source = source;
    m.destination = dest;
    m.read_only = ro;
    return m;
  }
  size_t Disks() {
    size_t n = 0;
    std::error_code ec;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_.path() + "/volumes", ec)) ++n;
    return n;
  }

  TempDir dir_;
  Config cfg_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<VolumeStore> store_;
  std::unique_ptr<VolumeService> svc_;
  RequestContext ctx_;
};

TEST_F(VolumeServiceTest, NamedVolumesAreMadeOnceAndSharedOnlyReadOnly) {
  Container a = With("c-a", {Vol("data", "/data")});
  ASSERT_TRUE(svc_->Admit(ctx_, a).ok());
  ASSERT_FALSE(a.mounts[0].volume_uuid.empty());
  EXPECT_EQ(a.mounts[0].size_gib, cfg_.volume_default_size_gib);
  EXPECT_EQ(Disks(), 1u);
  // A second writer, or a reader beside a writer: 409, and nothing of it stays.
  Container b = With("c-b", {Vol("data", "/d")});
  EXPECT_EQ(svc_->Admit(ctx_, b).code(), Code::kConflict);
  Container r = With("c-r", {Vol("data", "/d", true)});
  EXPECT_EQ(svc_->Admit(ctx_, r).code(), Code::kConflict);
  svc_->Release("c-a");
  // Readers share; a writer then is refused; the volume outlives them all.
  Container r1 = With("c-r1", {Vol(a.mounts[0].volume_uuid, "/d", true)});
  Container r2 = With("c-r2", {Vol("data", "/e", true)});
  ASSERT_TRUE(svc_->Admit(ctx_, r1).ok());
  ASSERT_TRUE(svc_->Admit(ctx_, r2).ok());
  EXPECT_EQ(r1.mounts[0].volume_uuid, r2.mounts[0].volume_uuid);
  EXPECT_EQ(svc_->Admit(ctx_, b).code(), Code::kConflict);
  EXPECT_EQ(svc_->Delete(ctx_, "data").code(), Code::kConflict);
  svc_->Release("c-r1");
  svc_->Release("c-r2");
  EXPECT_EQ(Disks(), 1u);
  // Another project neither sees it nor finds it by name (it gets its own).
  RequestContext other = ctx_;
  other.project_id = "p2";
  EXPECT_EQ(svc_->Get(other, a.mounts[0].volume_uuid).error().code(), Code::kNotFound);
  ASSERT_TRUE(svc_->Delete(ctx_, "data").ok());
  EXPECT_EQ(Disks(), 0u);
}

TEST_F(VolumeServiceTest, SizedVolumesGoWithTheirContainer) {
  ContainerMount m;
  m.size_gib = 2;
  m.destination = "/scratch";
  Container c = With("c-1", {m});
  ASSERT_TRUE(svc_->Admit(ctx_, c).ok());
  EXPECT_TRUE(c.mounts[0].auto_remove);
  auto v = store_->Get(c.mounts[0].volume_uuid);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->size_gib, 2);
  EXPECT_FALSE(v->name.has_value());
  // Sparse: a 2 GiB volume takes a few MiB of the host's disk.
  EXPECT_EQ(fs::file_size(v->path), uint64_t{2} << 30);
  SandboxSpec spec;
  ASSERT_TRUE(svc_->AddTo(c, spec).ok());
  ASSERT_EQ(spec.volumes.size(), 1u);
  EXPECT_EQ(spec.volumes[0].serial, v->uuid.substr(0, 20));
  EXPECT_EQ(spec.volumes[0].destination, "/scratch");
  svc_->Release("c-1");
  EXPECT_EQ(store_->Get(v->uuid).error().code(), Code::kNotFound);
  EXPECT_EQ(Disks(), 0u);
  svc_->Release("c-1");  // idempotent
}

TEST_F(VolumeServiceTest, BadMountsAreRefusedWithNothingMade) {
  std::vector<std::pair<ContainerMount, std::string>> bad;
  bad.push_back({Vol("../x", "/d"), "name"});
  bad.push_back({Vol("a/b", "/d"), "name"});
  bad.push_back({Vol("v", "/"), "root"});
  bad.push_back({Vol("v", "//"), "root"});
  bad.push_back({Vol("v", "/a/../../etc"), ".."});
  bad.push_back({Vol("v", "relative"), "absolute"});
  bad.push_back({Vol("v", "/proc"), "/proc"});
  bad.push_back({Vol("v", "/sys/fs"), "/sys"});
  bad.push_back({Vol("v", "/dev/shm"), "/dev"});
  bad.push_back({Vol("v", "/a\nb"), "control"});
  ContainerMount huge;
  huge.size_gib = cfg_.volume_max_size_gib + 1;
  huge.destination = "/d";
  bad.push_back({huge, "size"});
  ContainerMount big_file;
  big_file.type = ContainerMount::Type::kBind;
  big_file.destination = "/f";
  big_file.content.assign(static_cast<size_t>(cfg_.volume_max_inject_bytes) + 1, 'x');
  bad.push_back({big_file, "max_inject_bytes"});
  ContainerMount block;
  block.type = ContainerMount::Type::kBlock;
  block.source = "/dev/null";
  block.serial = "s1";
  block.destination = "/d";
  bad.push_back({block, "block"});
  RequestContext admin = ctx_;
  admin.is_admin = true;
  for (const auto& [m, why] : bad) {
    Container c = With("c-bad", {Vol("fine", "/ok"), m});
    Status st = svc_->Admit(admin, c);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << why << ": " << st.ToString();
    EXPECT_NE(st.message().find(why), std::string::npos) << st.message();
  }
  // Too many mounts, and one destination twice.
  std::vector<ContainerMount> many;
  for (int i = 0; i <= cfg_.volume_max_mounts; ++i) many.push_back(Vol("v" + std::to_string(i), "/d" + std::to_string(i)));
  Container c = With("c-many", many);
  EXPECT_EQ(svc_->Admit(ctx_, c).code(), Code::kInvalidArgument);
  Container twice = With("c-twice", {Vol("a", "/d"), Vol("b", "/d/")});
  EXPECT_EQ(svc_->Admit(ctx_, twice).code(), Code::kInvalidArgument);
  Container same = With("c-same", {Vol("a", "/d"), Vol("a", "/e")});
  EXPECT_EQ(svc_->Admit(ctx_, same).code(), Code::kInvalidArgument);
  // Nested destinations would be bound through the outer volume's contents.
  Container nested = With("c-nested", {Vol("a", "/data"), Vol("b", "/data/sub")});
  Status st = svc_->Admit(ctx_, nested);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("nested"), std::string::npos) << st.ToString();
  // A uuid that names no volume is a 404, not a new empty volume of that name.
  Container typo = With("c-typo", {Vol("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "/d")});
  EXPECT_EQ(svc_->Admit(ctx_, typo).code(), Code::kNotFound);
  // A non-admin may not hand a host device to a VM at all.
  block.source = "/dev/loop0";
  Container dev = With("c-dev", {block});
  EXPECT_EQ(svc_->Admit(ctx_, dev).code(), Code::kForbidden);
  EXPECT_EQ(Disks(), 0u);
  EXPECT_TRUE(store_->All()->empty());
}

TEST_F(VolumeServiceTest, RecoverReleasesWhatACrashLeft) {
  Container kept = With("c-kept", {Vol("data", "/data")});
  ContainerMount anon;
  anon.size_gib = 1;
  anon.destination = "/s";
  Container lost = With("c-lost", {Vol("other", "/o"), anon});
  ASSERT_TRUE(svc_->Admit(ctx_, kept).ok());
  ASSERT_TRUE(svc_->Admit(ctx_, lost).ok());
  { std::ofstream(dir_.path() + "/volumes/stray.ext4.tmp") << "half made"; }
  EXPECT_EQ(Disks(), 4u);
  // c-lost has no record (its create or delete was interrupted): its attachments go, and its
  // anonymous volume; the named one stays, detached; the stray file goes.
  svc_->Recover({"c-kept"});
  auto all = store_->All();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "data");
  EXPECT_EQ((*all)[0].attachments.size(), 1u);
  EXPECT_EQ((*all)[1].name, "other");
  EXPECT_TRUE((*all)[1].attachments.empty());
  EXPECT_EQ(Disks(), 2u);
  // The state dir spelled differently after a restart: the disks are still theirs.
  VolumeService again(cfg_, store_.get(), dir_.path() + "//volumes/.");
  again.Recover({"c-kept"});
  EXPECT_EQ(Disks(), 2u);
  EXPECT_EQ(store_->All()->size(), 2u);
}

}  // namespace
}  // namespace zunvm
