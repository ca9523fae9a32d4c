#include "image/layer_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace zunvm::image {
namespace {

namespace fs = std::filesystem;

constexpr time_t kTime = 1'600'000'000;

// One tar entry to write. type: 'f' file, 'd' dir, 'l' symlink, 'h' hard link, 'c' char
// device, 'p' fifo. `data` is the file's contents or the link's target.
struct Ent {
  char type;
  std::string name;
  std::string data;
  mode_t mode = 0644;
  int64_t uid = 0, gid = 0;
  time_t mtime = kTime;
  dev_t rdev = 0;
};
Ent F(std::string n, std::string d = "x", mode_t m = 0644) { return {'f', std::move(n), std::move(d), m}; }
Ent D(std::string n, mode_t m = 0755) { return {'d', std::move(n), "", m}; }
Ent L(std::string n, std::string t) { return {'l', std::move(n), std::move(t), 0777}; }
Ent H(std::string n, std::string t) { return {'h', std::move(n), std::move(t)}; }

std::string ReadPath(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A raw ustar header block (the libarchive writer cannot produce the odd names we need).
std::string UstarBlock(const std::string& name, char type, size_t size) {
  std::string h(512, '\0');
  auto put = [&](size_t off, const std::string& v) { h.replace(off, v.size(), v); };
  char num[16];
  put(0, name);
  put(100, "0000644");
  put(108, "0000000");
  put(116, "0000000");
  std::snprintf(num, sizeof num, "%011zo", size);
  put(124, num);
  put(136, "13767016400");
  h[156] = type;
  put(257, std::string("ustar\0" "00", 8));
  put(148, "        ");
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(num, sizeof num, "%06o", sum);
  put(148, std::string(num, 6) + '\0' + ' ');
  return h;
}
std::string Padded(std::string s) { return s + std::string((512 - s.size() % 512) % 512, '\0'); }

class LayerUnpackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/layer_unpack_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    root_ = base_ + "/root";
    canary_ = base_ + "/canary";
    layers_ = base_ + "/layers";
    for (const auto& d : {root_, canary_, layers_}) fs::create_directory(d);
    std::ofstream(canary_ + "/secret") << "canary";
    root_fd_ = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(root_fd_, 0);
  }
  void TearDown() override {
    ::close(root_fd_);
    fs::remove_all(base_);  // never follows symlinks
  }

  // Writes a pax layer (gzip-compressed when `gzip`) and returns its path.
  std::string Write(const std::vector<Ent>& ents, bool gzip = false) {
    std::string path = layers_ + "/layer" + std::to_string(n_layers_++) + ".tar";
    archive* a = archive_write_new();
    archive_write_set_format_pax(a);
    if (gzip) archive_write_add_filter_gzip(a);
    EXPECT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
    for (const auto& x : ents) {
      archive_entry* e = archive_entry_new();
      archive_entry_set_pathname(e, x.name.c_str());
      archive_entry_set_perm(e, x.mode);
      archive_entry_set_uid(e, x.uid);
      archive_entry_set_gid(e, x.gid);
      archive_entry_set_mtime(e, x.mtime, 0);
      switch (x.type) {
        case 'f': archive_entry_set_filetype(e, AE_IFREG); archive_entry_set_size(e, static_cast<la_int64_t>(x.data.size())); break;
        case 'd': archive_entry_set_filetype(e, AE_IFDIR); break;
        case 'l': archive_entry_set_filetype(e, AE_IFLNK); archive_entry_set_symlink(e, x.data.c_str()); break;
        case 'h': archive_entry_set_filetype(e, AE_IFREG); archive_entry_set_hardlink(e, x.data.c_str()); break;
        case 'c': archive_entry_set_filetype(e, AE_IFCHR); archive_entry_set_rdev(e, x.rdev); break;
        case 'p': archive_entry_set_filetype(e, AE_IFIFO); break;
      }
      EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK) << x.name << ": " << archive_error_string(a);
      if (x.type == 'f') archive_write_data(a, x.data.data(), x.data.size());
      archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    return path;
  }

  Result<UnpackStats> ApplyFile(const std::string& path, const UnpackLimits& limits = {}) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    auto r = ApplyLayer(fd, root_fd_, limits);
    ::close(fd);
    return r;
  }
  Result<UnpackStats> Apply(const std::vector<Ent>& ents, const UnpackLimits& limits = {}) {
    return ApplyFile(Write(ents), limits);
  }
  void ApplyOk(const std::vector<Ent>& ents) {
    auto r = Apply(ents);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
  }

  // Everything outside the root (types, modes, link counts, file contents).
  std::string Outside() {
    std::string out;
    for (auto it = fs::recursive_directory_iterator(base_); it != fs::recursive_directory_iterator(); ++it) {
      const std::string p = it->path().string();
      if (p == root_ || p == layers_) {
        it.disable_recursion_pending();
        continue;
      }
      struct stat st{};
      ::lstat(p.c_str(), &st);
      out += p + " " + std::to_string(st.st_mode) + " " + std::to_string(st.st_nlink);
      if (S_ISREG(st.st_mode)) out += " " + ReadPath(p);
      out += "\n";
    }
    return out;
  }

  // Applies a hostile layer and checks it is refused as InvalidArgument naming `entry`, with
  // nothing outside the root changed.
  void ExpectRefused(const std::vector<Ent>& ents, const std::string& entry) {
    const std::string before = Outside();
    struct stat passwd_before{};
    ::lstat("/etc/passwd", &passwd_before);
    auto r = Apply(ents);
    ASSERT_FALSE(r.has_value()) << entry;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << r.error().ToString();
    EXPECT_NE(r.error().message().find(entry), std::string::npos) << r.error().ToString();
    EXPECT_EQ(Outside(), before);
    EXPECT_EQ(ReadPath(canary_ + "/secret"), "canary");
    struct stat passwd_after{};
    ::lstat("/etc/passwd", &passwd_after);
    EXPECT_EQ(passwd_after.st_nlink, passwd_before.st_nlink);
  }

  bool Exists(const std::string& rel) {
    struct stat st{};
    return ::fstatat(root_fd_, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  }
  struct stat Lstat(const std::string& rel) {
    struct stat st{};
    EXPECT_EQ(::fstatat(root_fd_, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW), 0) << rel;
    return st;
  }
  std::string Read(const std::string& rel) { return ReadPath(root_ + "/" + rel); }
  std::string Readlink(const std::string& rel) {
    char buf[4096];
    ssize_t n = ::readlinkat(root_fd_, rel.c_str(), buf, sizeof buf);
    return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
  }

  std::string base_, root_, canary_, layers_;
  int root_fd_ = -1;
  int n_layers_ = 0;
};

TEST_F(LayerUnpackTest, RoundTripsFilesDirsLinksModesOwnersTimes) {
  Ent dir = D("d", 0711);
  dir.uid = 1000, dir.gid = 1001, dir.mtime = kTime - 100;
  Ent file = F("d/file", "hello", 04755);
  file.uid = 1234, file.gid = 5678, file.mtime = kTime - 200;
  Ent link = L("d/link", "file");
  link.uid = 7, link.gid = 8, link.mtime = kTime - 300;
  auto r = Apply({D("."), dir, file, link, H("d/hard", "d/file"), F("d/sub/deep", "x", 0600)});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->entries, 6);
  EXPECT_EQ(r->bytes, 6);
  EXPECT_EQ(r->whiteouts, 0);

  EXPECT_EQ(Read("d/file"), "hello");
  struct stat st = Lstat("d/file");
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mtime, kTime - 200);
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(Lstat("d/hard").st_ino, st.st_ino);

  EXPECT_EQ(Readlink("d/link"), "file");
  st = Lstat("d/link");
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_uid, 7u);
  EXPECT_EQ(st.st_gid, 8u);
  EXPECT_EQ(st.st_mtime, kTime - 300);

  st = Lstat("d");  // its contents came after it, yet its mtime is the layer's
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0711u);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1001u);
  EXPECT_EQ(st.st_mtime, kTime - 100);
  EXPECT_EQ(Lstat("d/sub").st_mode & 07777, 0755u);  // implicit parent
  EXPECT_EQ(Lstat("d/sub/deep").st_mode & 07777, 0600u);
  EXPECT_EQ(Lstat(".").st_mtime, kTime);
}

TEST_F(LayerUnpackTest, ReadsGzipLayers) {
  auto r = ApplyFile(Write({D("a"), F("a/b", "gz data")}, /*gzip=*/true));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(Read("a/b"), "gz data");
}

TEST_F(LayerUnpackTest, HardLinkToLowerLayer) {
  ApplyOk({F("a", "lower")});
  ApplyOk({H("b", "a")});
  EXPECT_EQ(Lstat("a").st_ino, Lstat("b").st_ino);
}

TEST_F(LayerUnpackTest, WhiteoutRemovesFile) {
  ApplyOk({D("a"), F("a/x"), F("a/y")});
  auto r = Apply({F("a/.wh.x", "")});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->whiteouts, 1);
  EXPECT_FALSE(Exists("a/x"));
  EXPECT_FALSE(Exists("a/.wh.x"));
  EXPECT_TRUE(Exists("a/y"));
}

TEST_F(LayerUnpackTest, WhiteoutRemovesDirectory) {
  ApplyOk({D("a"), F("a/b/c"), F("keep")});
  ApplyOk({F(".wh.a", "")});
  EXPECT_FALSE(Exists("a"));
  EXPECT_FALSE(Exists(".wh.a"));
  EXPECT_TRUE(Exists("keep"));
}

TEST_F(LayerUnpackTest, WhiteoutOfMissingPathIsNoop) {
  ApplyOk({F("nope/.wh.x", ""), F(".wh.y", "")});
  EXPECT_FALSE(Exists("nope"));
}

class OpaqueTest : public LayerUnpackTest, public ::testing::WithParamInterface<bool> {};

TEST_P(OpaqueTest, RemovesLowerKeepsSameLayer) {
  ApplyOk({D("d"), F("d/old"), F("d/sub/old2"), F("other")});
  std::vector<Ent> layer = {D("d"), F("d/new", "new"), F("d/sub/new2", "new2")};
  Ent marker = F("d/.wh..wh..opq", "");
  if (GetParam()) layer.insert(layer.begin() + 1, marker);
  else layer.push_back(marker);
  auto r = Apply(layer);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->whiteouts, 1);
  EXPECT_FALSE(Exists("d/old"));
  EXPECT_FALSE(Exists("d/sub/old2"));
  EXPECT_FALSE(Exists("d/.wh..wh..opq"));
  EXPECT_EQ(Read("d/new"), "new");
  EXPECT_EQ(Read("d/sub/new2"), "new2");
  EXPECT_TRUE(Exists("other"));
}
INSTANTIATE_TEST_SUITE_P(MarkerFirstOrLast, OpaqueTest, ::testing::Bool());

TEST_F(LayerUnpackTest, ReplacesTypes) {
  ApplyOk({F("x", "file"), D("y"), F("y/inner")});
  ApplyOk({D("x"), F("x/in", "in"), L("y", "x")});
  EXPECT_TRUE(S_ISDIR(Lstat("x").st_mode));
  EXPECT_EQ(Read("x/in"), "in");
  EXPECT_TRUE(S_ISLNK(Lstat("y").st_mode));
  EXPECT_EQ(Readlink("y"), "x");
  ApplyOk({D("x/more"), F("x/more/f")});  // a directory over a directory merges
  EXPECT_TRUE(Exists("x/in"));
  EXPECT_TRUE(Exists("x/more/f"));
}

TEST_F(LayerUnpackTest, DevicesSkippedUnlessAllowed) {
  Ent dev{'c', "null2", "", 0666};
  dev.rdev = makedev(1, 3);
  Ent fifo{'p', "fifo", "", 0600};
  auto r = Apply({dev, fifo});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->entries, 2);
  EXPECT_FALSE(Exists("null2"));
  EXPECT_FALSE(Exists("fifo"));

  UnpackLimits allow;
  allow.allow_devices = true;
  r = Apply({dev, fifo}, allow);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  struct stat st = Lstat("null2");
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  EXPECT_TRUE(S_ISFIFO(Lstat("fifo").st_mode));
}

TEST_F(LayerUnpackTest, ByteLimit) {
  UnpackLimits limits;
  limits.max_bytes = 10;
  auto r = Apply({F("a", "12345"), F("b", "678901")}, limits);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kPayloadTooLarge);
  limits.max_bytes = 11;
  r = Apply({F("a", "12345"), F("b", "678901")}, limits);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->bytes, 11);
}

TEST_F(LayerUnpackTest, EntryLimit) {
  UnpackLimits limits;
  limits.max_entries = 2;
  auto r = Apply({F("a"), F("b"), F("c")}, limits);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kPayloadTooLarge);
  EXPECT_TRUE(Apply({F("a"), F("b")}, limits).has_value());
}

TEST_F(LayerUnpackTest, CorruptArchives) {
  std::string junk = layers_ + "/junk";
  std::ofstream(junk) << std::string(2048, 'z');
  auto r = ApplyFile(junk);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);

  std::string gz = ReadPath(Write({F("big", std::string(100000, 'q'))}, true));
  std::string cut = layers_ + "/cut";
  std::ofstream(cut) << gz.substr(0, gz.size() / 2);
  r = ApplyFile(cut);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << r.error().ToString();
}

TEST_F(LayerUnpackTest, ReadsZstdLayersWhenBuiltIn) {
  if (archive_libzstd_version() == nullptr) GTEST_SKIP() << "libarchive without libzstd";
  std::string path = layers_ + "/layer.tar.zst";
  archive* a = archive_write_new();
  archive_write_set_format_pax(a);
  archive_write_add_filter_zstd(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "z");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, 4);
  ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
  archive_write_data(a, "zstd", 4);
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  auto r = ApplyFile(path);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(Read("z"), "zstd");
}

// libarchive hands names over as C strings: a pax path with a NUL arrives cut at the NUL, and
// the cut name is confined like any other.
TEST_F(LayerUnpackTest, NulInPaxNameCannotEscape) {
  std::string value = std::string("a\0/../../x", 10);
  std::string rec = " path=" + value + "\n";
  rec = std::to_string(rec.size() + 2) + rec;  // a two-digit length prefix
  std::string tar = UstarBlock("pax", 'x', rec.size()) + Padded(rec) + UstarBlock("placeholder", '0', 4) +
                    Padded("evil") + std::string(1024, '\0');
  std::string path = layers_ + "/nul.tar";
  std::ofstream(path, std::ios::binary) << tar;
  const std::string before = Outside();
  auto r = ApplyFile(path);
  EXPECT_EQ(Outside(), before);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(Read("a"), "evil");
  EXPECT_FALSE(fs::exists(fs::symlink_status(base_ + "/x")));
}

// Hostile layers: each refused, nothing outside the root touched.

TEST_F(LayerUnpackTest, RefusesDotDot) { ExpectRefused({F("../x", "evil")}, "../x"); }

TEST_F(LayerUnpackTest, RefusesAbsolute) {
  std::string abs = "/zunvm_layer_unpack_abs_" + std::to_string(::getpid());
  ExpectRefused({F(abs, "evil")}, abs);
  EXPECT_FALSE(fs::exists(fs::symlink_status(abs)));
}

TEST_F(LayerUnpackTest, RefusesInnerDotDot) {
  ExpectRefused({D("a"), F("a/../../x", "evil")}, "a/../../x");
}

TEST_F(LayerUnpackTest, RefusesWriteThroughSymlinkToCanary) {
  ExpectRefused({L("l", canary_), F("l/evil", "evil")}, "l/evil");
}

TEST_F(LayerUnpackTest, RefusesWriteThroughSymlinkToParent) {
  ExpectRefused({L("l", ".."), F("l/evil", "evil")}, "l/evil");
  ExpectRefused({L("m", ".."), D("m/evil")}, "m/evil");
}

TEST_F(LayerUnpackTest, RefusesWriteThroughLowerLayerSymlink) {
  ApplyOk({L("l", canary_)});
  ExpectRefused({F("l/evil", "evil")}, "l/evil");
  ExpectRefused({F("l/secret", "evil")}, "l/secret");
  ExpectRefused({D("l/sub/deeper")}, "l/sub/deeper");
}

TEST_F(LayerUnpackTest, ReplacingSymlinkNeverWritesItsTarget) {
  ApplyOk({L("f", canary_ + "/secret"), L("d", canary_)});
  const std::string before = Outside();
  ApplyOk({F("f", "evil"), D("d", 0700)});
  EXPECT_EQ(Read("f"), "evil");
  EXPECT_TRUE(S_ISDIR(Lstat("d").st_mode));
  EXPECT_EQ(Outside(), before);
}

TEST_F(LayerUnpackTest, RefusesHardLinksOutOfRoot) {
  ExpectRefused({H("x", "../../etc/passwd")}, "x");
  ExpectRefused({H("y", "/etc/passwd")}, "y");
  ExpectRefused({H("z", "../canary/secret")}, "z");
  EXPECT_FALSE(Exists("x") || Exists("y") || Exists("z"));
}

TEST_F(LayerUnpackTest, RefusesHardLinkThroughSymlink) {
  ApplyOk({L("l", canary_)});
  ExpectRefused({H("x", "l/secret")}, "x");
  EXPECT_FALSE(Exists("x"));
}

TEST_F(LayerUnpackTest, RefusesBadWhiteoutNames) {
  ApplyOk({D("a")});
  ExpectRefused({F(".wh...", "")}, ".wh...");
  ExpectRefused({F("a/.wh...", "")}, "a/.wh...");
  ExpectRefused({F("a/.wh.../x", "")}, "a/.wh.../x");
  ExpectRefused({F("a/.wh..", "")}, "a/.wh..");
  ExpectRefused({F("a/.wh.", "")}, "a/.wh.");
  EXPECT_TRUE(Exists("a"));
}

TEST_F(LayerUnpackTest, RefusesWhiteoutThroughSymlink) {
  ApplyOk({L("l", canary_)});
  ExpectRefused({F("l/.wh.secret", "")}, "l/.wh.secret");
  ExpectRefused({F("l/.wh..wh..opq", "")}, "l/.wh..wh..opq");
  // Whiting out the symlink itself removes the link, not what it points to.
  const std::string before = Outside();
  ApplyOk({F(".wh.l", "")});
  EXPECT_FALSE(Exists("l"));
  EXPECT_EQ(Outside(), before);
}

}  // namespace
}  // namespace zunvm::image
