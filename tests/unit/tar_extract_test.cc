// The shared confined extractor (common/tar_extract.h) under both rule sets its callers use:
// image layers (strict metadata, directories replaced) and copies into a container (docker cp:
// a directory is never replaced by a file, metadata kept where possible).
#include "common/tar_extract.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/fs_at.h"

namespace zunvm::tarx {
namespace {

struct Item {
  std::string name;
  mode_t type = AE_IFREG;
  std::string data;  // file content, symlink or hard link target
  time_t mtime = 0;
  bool hardlink = false;
};

std::string Tar(const std::vector<Item>& items) {
  std::string out, err;
  ArchiveWriter a = OpenTarWriterToString(&out, &err);
  EXPECT_TRUE(a) << err;
  for (const auto& it : items) {
    ArchiveEntry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), it.name.c_str());
    if (it.hardlink) {
      archive_entry_set_hardlink(e.get(), it.data.c_str());
    } else {
      archive_entry_set_filetype(e.get(), it.type);
      archive_entry_set_perm(e.get(), it.type == AE_IFDIR ? 0750 : 0640);
      if (it.type == AE_IFLNK) archive_entry_set_symlink(e.get(), it.data.c_str());
      if (it.type == AE_IFREG) archive_entry_set_size(e.get(), static_cast<la_int64_t>(it.data.size()));
    }
    archive_entry_set_mtime(e.get(), it.mtime, 0);
    archive_write_header(a.get(), e.get());
    if (it.type == AE_IFREG && !it.hardlink) archive_write_data(a.get(), it.data.data(), it.data.size());
  }
  archive_write_close(a.get());
  return out;
}

class TarExtractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/zunvm-tarx-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directory(dir_ + "/root");
    root_ = fsat::UniqueFd(::open((dir_ + "/root").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_GE(root_.get(), 0);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Extracts every entry (names split as the callers do); the first error stops it.
  Status Extract(const std::string& tar, ExtractRules rules) {
    std::string err;
    ArchiveReader a = OpenTarMemory(tar, &err);
    if (!a) return Status::Invalid(err);
    TarExtractor x(a.get(), root_.get(), rules, "entry ");
    archive_entry* e = nullptr;
    while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
      auto parts = fsat::SplitRelative(archive_entry_pathname(e));
      if (!parts) return Status::Invalid("bad name");
      ZUNVM_RETURN_IF_ERROR(x.Write(e, *parts));
    }
    x.Finish();
    return Status::Ok();
  }
  std::string Path(const std::string& rel) const { return dir_ + "/root/" + rel; }

  std::string dir_;
  fsat::UniqueFd root_;
};

const ExtractRules kLayer{false, false, true, int64_t{1} << 20};
const ExtractRules kCopy{true, false, false, int64_t{1} << 20};

TEST_F(TarExtractTest, WritesTreesWithModesTimesAndLinks) {
  ASSERT_TRUE(Extract(Tar({{"d", AE_IFDIR, "", 1000000},
                           {"d/f", AE_IFREG, "data", 2000000},
                           {"d/l", AE_IFLNK, "f", 0},
                           {"d/h", AE_IFREG, "d/f", 0, true}}),
                      kLayer).ok());
  struct stat st{};
  ASSERT_EQ(::stat(Path("d/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_mtime, 2000000);
  EXPECT_EQ(st.st_nlink, 2u);  // d/h is a hard link to it
  // The directory's time is set after its entries were written into it.
  ASSERT_EQ(::stat(Path("d").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, 1000000);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(std::filesystem::read_symlink(Path("d/l")), "f");
}

TEST_F(TarExtractTest, NeverWritesThroughASymlinkOrOutsideTheRoot) {
  std::filesystem::create_directory(dir_ + "/outside");
  std::filesystem::create_symlink(dir_ + "/outside", Path("esc"));
  for (const auto& rules : {kLayer, kCopy}) {
    Status st = Extract(Tar({{"esc/evil", AE_IFREG, "x"}}), rules);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
    st = Extract(Tar({{"h", AE_IFREG, "../../etc/passwd", 0, true}}), rules);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find("entry h"), std::string::npos) << st.message();
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir_ + "/outside"));
  // A symlink entry replaces what is there; it is never followed.
  ASSERT_TRUE(Extract(Tar({{"esc", AE_IFLNK, "/etc"}}), kLayer).ok());
  EXPECT_EQ(std::filesystem::read_symlink(Path("esc")), "/etc");
}

TEST_F(TarExtractTest, ADirectoryInTheWayIsReplacedInLayersAndKeptInCopies) {
  std::filesystem::create_directories(Path("x/inner"));
  Status st = Extract(Tar({{"x", AE_IFREG, "file"}}), kCopy);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
  EXPECT_TRUE(std::filesystem::is_directory(Path("x/inner")));
  ASSERT_TRUE(Extract(Tar({{"x", AE_IFREG, "file"}}), kLayer).ok());
  EXPECT_TRUE(std::filesystem::is_regular_file(Path("x")));
}

TEST_F(TarExtractTest, FileDataBeyondTheLimitIsRefused) {
  ExtractRules small = kLayer;
  small.max_bytes = 10;
  Status st = Extract(Tar({{"a", AE_IFREG, "123456"}, {"b", AE_IFREG, "123456"}}), small);
  EXPECT_EQ(st.code(), Code::kPayloadTooLarge) << st.ToString();
  EXPECT_FALSE(std::filesystem::exists(Path("b")));
}

TEST_F(TarExtractTest, ADeviceIsMadeOnlyWhenAllowed) {
  if (::geteuid() != 0) GTEST_SKIP() << "mknod needs root";
  ASSERT_TRUE(Extract(Tar({{"fifo", AE_IFIFO}}), kCopy).ok());
  EXPECT_FALSE(std::filesystem::exists(Path("fifo")));
  ExtractRules devices = kLayer;
  devices.allow_devices = true;
  ASSERT_TRUE(Extract(Tar({{"fifo", AE_IFIFO}}), devices).ok());
  EXPECT_TRUE(std::filesystem::is_fifo(Path("fifo")));
}

}  // namespace
}  // namespace zunvm::tarx
