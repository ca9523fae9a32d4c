// TarFs: paths, symlinks confined to the root, Docker-style tar export, and an import that
// refuses traversal and applies all or nothing.
#include "tests/fakes/tar_fs.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <string>
#include <vector>

namespace zunvm {
namespace {

struct Entry {
  std::string name;
  char type = 'f';   // f file, d dir, l symlink, h hard link
  std::string data;  // content, or link target
};

la_ssize_t Append(archive*, void* out, const void* buf, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

std::string MakeTar(const std::vector<Entry>& entries, bool gzip = false) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  archive_write_open(a, &out, nullptr, Append, nullptr);
  for (const auto& e : entries) {
    archive_entry* en = archive_entry_new();
    archive_entry_set_pathname(en, e.name.c_str());
    archive_entry_set_mtime(en, 1700000000, 0);
    if (e.type == 'd') {
      archive_entry_set_mode(en, AE_IFDIR | 0750);
    } else if (e.type == 'l') {
      archive_entry_set_mode(en, AE_IFLNK | 0777);
      archive_entry_set_symlink(en, e.data.c_str());
    } else if (e.type == 'h') {
      archive_entry_set_mode(en, AE_IFREG | 0644);
      archive_entry_set_hardlink(en, e.data.c_str());
    } else {
      archive_entry_set_mode(en, AE_IFREG | 0640);
      archive_entry_set_size(en, static_cast<la_int64_t>(e.data.size()));
    }
    archive_write_header(a, en);
    if (e.type == 'f' && !e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(en);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

// name -> "<type>:<content or target>" of every entry.
std::map<std::string, std::string> ReadTar(const std::string& tar) {
  std::map<std::string, std::string> out;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_memory(a, tar.data(), tar.size()), ARCHIVE_OK);
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string v;
    switch (archive_entry_filetype(e)) {
      case AE_IFDIR:
        v = "d:";
        break;
      case AE_IFLNK:
        v = std::string("l:") + archive_entry_symlink(e);
        break;
      default: {
        v = "f:";
        char buf[4096];
        la_ssize_t n;
        while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
          v.append(buf, static_cast<size_t>(n));
      }
    }
    out[archive_entry_pathname(e)] = v;
  }
  archive_read_free(a);
  return out;
}

TEST(TarFs, NormalizesPaths) {
  EXPECT_EQ(TarFs::Normalize("/a/./b/"), "/a/b");
  EXPECT_EQ(TarFs::Normalize("a//b"), "/a/b");
  EXPECT_EQ(TarFs::Normalize("/../../x"), "/x");
  EXPECT_EQ(TarFs::Normalize("/a/b/../c"), "/a/c");
  EXPECT_EQ(TarFs::Normalize(""), "/");
}

TEST(TarFs, StartsWithASmallRoot) {
  TarFs fs("myhost");
  EXPECT_EQ(*fs.ReadFile("/etc/hostname"), "myhost\n");
  EXPECT_NE(fs.ReadFile("/etc/hosts")->find("myhost"), std::string::npos);
  EXPECT_TRUE(fs.IsDir("/tmp"));
  EXPECT_TRUE(fs.IsDir("/root"));
  EXPECT_TRUE(fs.IsDir("/"));
  EXPECT_EQ(fs.Lookup("/tmp")->mode, 01777u);
  EXPECT_EQ(fs.ReadFile("/nope").error().code(), Code::kNotFound);
  EXPECT_EQ(fs.ReadFile("/etc").error().code(), Code::kInvalidArgument);
}

TEST(TarFs, WritesAppendsAndLists) {
  TarFs fs;
  ASSERT_TRUE(fs.WriteFile("/tmp/./f", "a", false).ok());
  ASSERT_TRUE(fs.WriteFile("/tmp/f", "b", true).ok());
  EXPECT_EQ(*fs.ReadFile("/tmp/f/"), "ab");
  ASSERT_TRUE(fs.WriteFile("/tmp/f", "c", false).ok());
  EXPECT_EQ(*fs.ReadFile("/tmp/f"), "c");
  EXPECT_EQ(fs.WriteFile("/nodir/f", "x", false).code(), Code::kNotFound);
  EXPECT_EQ(fs.WriteFile("/tmp", "x", false).code(), Code::kInvalidArgument);
  EXPECT_EQ(fs.WriteFile("/tmp/f/g", "x", false).code(), Code::kInvalidArgument);
  ASSERT_TRUE(fs.MakeDirs("/a/b/c").ok());
  EXPECT_TRUE(fs.IsDir("/a/b/c"));
  EXPECT_EQ(fs.MakeDirs("/tmp/f/x").code(), Code::kInvalidArgument);
  EXPECT_EQ(*fs.List("/"), (std::vector<std::string>{"a", "bin", "etc", "root", "tmp"}));
  EXPECT_EQ(fs.List("/missing").error().code(), Code::kNotFound);
}

TEST(TarFs, CapsTotalSize) {
  TarFs fs;
  std::string mib(1 << 20, 'x');
  for (int i = 0; i < 63; ++i)
    ASSERT_TRUE(fs.WriteFile("/tmp/f" + std::to_string(i), mib, false).ok());
  EXPECT_EQ(fs.WriteFile("/tmp/big", mib + mib, false).code(), Code::kInvalidArgument);
  EXPECT_FALSE(fs.Lookup("/tmp/big"));
  // Replacing a file counts the new size, not both.
  EXPECT_TRUE(fs.WriteFile("/tmp/f0", mib, false).ok());
}

TEST(TarFs, ExportsADirectoryUnderItsBasename) {
  TarFs fs;
  ASSERT_TRUE(fs.MakeDirs("/srv/app/sub").ok());
  ASSERT_TRUE(fs.WriteFile("/srv/app/a.txt", "alpha", false).ok());
  ASSERT_TRUE(fs.WriteFile("/srv/app/sub/b.txt", "beta", false).ok());
  ASSERT_TRUE(fs.WriteFile("/srv/app-other", "not mine", false).ok());
  auto a = fs.Export("/srv/./app/");
  ASSERT_TRUE(a) << a.error().ToString();
  auto entries = ReadTar(a->tar);
  // Directory entries carry the usual trailing slash.
  EXPECT_EQ(entries, (std::map<std::string, std::string>{{"app/", "d:"},
                                                         {"app/a.txt", "f:alpha"},
                                                         {"app/sub/", "d:"},
                                                         {"app/sub/b.txt", "f:beta"}}));
  EXPECT_EQ(a->stat.name, "app");
  EXPECT_TRUE(S_ISDIR(a->stat.mode));
  EXPECT_EQ(a->stat.mode & 07777, 0755u);
  EXPECT_EQ(a->stat.mtime.size(), 20u);  // 2026-11-28T08:00:00Z
  EXPECT_EQ(a->stat.mtime.back(), 'Z');

  auto f = fs.Export("/srv/app/a.txt");
  ASSERT_TRUE(f);
  EXPECT_EQ(ReadTar(f->tar), (std::map<std::string, std::string>{{"a.txt", "f:alpha"}}));
  EXPECT_EQ(f->stat.size, 5);
  EXPECT_TRUE(S_ISREG(f->stat.mode));
  EXPECT_EQ(fs.Export("/srv/nope").error().code(), Code::kNotFound);
  EXPECT_TRUE(fs.Export("/"));
}

TEST(TarFs, ImportExportRoundTrip) {
  TarFs fs;
  std::string tar = MakeTar({{"d", 'd', ""},
                             {"d/x.txt", 'f', "hello"},
                             {"d/empty", 'f', ""},
                             {"d/link", 'l', "x.txt"},
                             {"d/hard", 'h', "d/x.txt"},
                             {"top.txt", 'f', std::string("bin\0ary", 7)}});
  ASSERT_TRUE(fs.Import("/tmp", tar).ok());
  EXPECT_EQ(*fs.ReadFile("/tmp/d/x.txt"), "hello");
  EXPECT_EQ(*fs.ReadFile("/tmp/d/link"), "hello");  // followed
  EXPECT_EQ(*fs.ReadFile("/tmp/d/hard"), "hello");  // a copy
  EXPECT_EQ(*fs.ReadFile("/tmp/top.txt"), std::string("bin\0ary", 7));
  EXPECT_EQ(fs.Lookup("/tmp/d")->mode, 0750u);
  EXPECT_EQ(fs.Lookup("/tmp/d/x.txt")->mode, 0640u);
  EXPECT_EQ(fs.Lookup("/tmp/d/x.txt")->mtime, 1700000000);

  auto out = fs.Export("/tmp/d");
  ASSERT_TRUE(out);
  auto entries = ReadTar(out->tar);
  EXPECT_EQ(entries["d/x.txt"], "f:hello");
  EXPECT_EQ(entries["d/link"], "l:x.txt");
  EXPECT_EQ(entries["d/empty"], "f:");
  auto link = fs.Export("/tmp/d/link");  // the link itself, like docker cp
  ASSERT_TRUE(link);
  EXPECT_TRUE(S_ISLNK(link->stat.mode));
  EXPECT_EQ(link->stat.link_target, "x.txt");

  // The exported tar imports elsewhere unchanged.
  TarFs other;
  ASSERT_TRUE(other.Import("/root", out->tar).ok());
  EXPECT_EQ(*other.ReadFile("/root/d/x.txt"), "hello");
  EXPECT_EQ(*other.ReadFile("/root/d/link"), "hello");
}

TEST(TarFs, ImportCreatesMissingParentsAndAcceptsGzip) {
  TarFs fs;
  ASSERT_TRUE(fs.Import("/", MakeTar({{"./opt/app/run.sh", 'f', "echo hi"}}, /*gzip=*/true)).ok());
  EXPECT_TRUE(fs.IsDir("/opt/app"));
  EXPECT_EQ(*fs.ReadFile("/opt/app/run.sh"), "echo hi");
}

TEST(TarFs, ImportRefusesTraversalAndAppliesNothing) {
  const std::vector<std::vector<Entry>> evil = {
      {{"ok.txt", 'f', "fine"}, {"../x", 'f', "escape"}},
      {{"ok.txt", 'f', "fine"}, {"/etc/passwd", 'f', "root::0:0"}},
      {{"ok.txt", 'f', "fine"}, {"a/../../x", 'f', "escape"}},
      {{"ok.txt", 'f', "fine"}, {"up", 'l', "/etc"}, {"up/passwd", 'f', "pwned"}},
      {{"ok.txt", 'f', "fine"}, {"up", 'l', "../../.."}, {"up/x", 'f', "pwned"}},
      {{"ok.txt", 'f', "fine"}, {"h", 'h', "../etc/hostname"}},
  };
  for (size_t i = 0; i < evil.size(); ++i) {
    TarFs fs;
    Status st = fs.Import("/tmp", MakeTar(evil[i]));
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << "case " << i;
    EXPECT_FALSE(fs.Lookup("/tmp/ok.txt")) << "case " << i;  // nothing applied
    EXPECT_FALSE(fs.Lookup("/tmp/up", false)) << "case " << i;
    EXPECT_FALSE(fs.Lookup("/x")) << "case " << i;
    EXPECT_FALSE(fs.Lookup("/etc/passwd")) << "case " << i;
  }
}

TEST(TarFs, ImportRefusesWritingThroughAnExistingSymlink) {
  TarFs fs;
  ASSERT_TRUE(fs.Import("/tmp", MakeTar({{"etc-link", 'l', "/etc"}})).ok());
  Status st = fs.Import("/tmp", MakeTar({{"etc-link/hostname", 'f', "evil\n"}}));
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(*fs.ReadFile("/etc/hostname"), "fake\n");
  // The destination itself may be reached through a symlink, as with docker cp.
  ASSERT_TRUE(fs.Import("/tmp/etc-link", MakeTar({{"new.conf", 'f', "k=v"}})).ok());
  EXPECT_EQ(*fs.ReadFile("/etc/new.conf"), "k=v");
}

TEST(TarFs, SymlinksNeverLeaveTheRoot) {
  TarFs fs;
  ASSERT_TRUE(
      fs.Import("/tmp", MakeTar({{"up", 'l', "../../../../../etc"}, {"loop", 'l', "loop"}})).ok());
  EXPECT_EQ(*fs.ReadFile("/tmp/up/hostname"), "fake\n");  // ".." stops at the root
  EXPECT_EQ(fs.ReadFile("/tmp/loop").error().code(), Code::kNotFound);
  EXPECT_TRUE(fs.Lookup("/tmp/loop", false));
}

TEST(TarFs, ImportRejectsBadInput) {
  TarFs fs;
  EXPECT_EQ(fs.Import("/missing", MakeTar({{"a", 'f', "x"}})).code(), Code::kNotFound);
  EXPECT_EQ(fs.Import("/etc/hostname", MakeTar({{"a", 'f', "x"}})).code(), Code::kInvalidArgument);
  EXPECT_EQ(fs.Import("/tmp", "this is not a tar archive").code(), Code::kInvalidArgument);
  EXPECT_EQ(fs.Import("/tmp", "").code(), Code::kInvalidArgument);
  // Truncated in the middle of the second file's data: the first file is not applied either.
  std::string tar = MakeTar({{"first", 'f', "1"}, {"second", 'f', std::string(8192, 's')}});
  EXPECT_EQ(fs.Import("/tmp", tar.substr(0, 4096)).code(), Code::kInvalidArgument);
  EXPECT_FALSE(fs.Lookup("/tmp/first"));
  // A directory is not replaced by a file, nor the reverse.
  EXPECT_EQ(fs.Import("/", MakeTar({{"tmp", 'f', "x"}})).code(), Code::kInvalidArgument);
  EXPECT_TRUE(fs.IsDir("/tmp"));
  EXPECT_EQ(fs.Import("/etc", MakeTar({{"hostname", 'd', ""}})).code(), Code::kInvalidArgument);
  // Too big for the fake filesystem.
  std::string big(static_cast<size_t>(TarFs::kMaxBytes) + 1, 'z');
  EXPECT_EQ(fs.Import("/tmp", MakeTar({{"big", 'f', big}})).code(), Code::kInvalidArgument);
  EXPECT_FALSE(fs.Lookup("/tmp/big"));
}

TEST(TarFs, JsonRoundTripAndValidation) {
  TarFs fs("h");
  ASSERT_TRUE(
      fs.Import("/tmp", MakeTar({{"d/f", 'f', std::string("\xff\x00z", 3)}, {"l", 'l', "d/f"}}))
          .ok());
  auto back = TarFs::FromJson(fs.ToJson());
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(*back->ReadFile("/tmp/l"), std::string("\xff\x00z", 3));
  EXPECT_EQ(*back->ReadFile("/etc/hostname"), "h\n");

  EXPECT_FALSE(TarFs::FromJson(nlohmann::json::array()));
  EXPECT_FALSE(TarFs::FromJson(nlohmann::json::object()));  // no root
  auto j = fs.ToJson();
  j["/nowhere/f"] = j["/etc/hostname"];  // orphan
  EXPECT_FALSE(TarFs::FromJson(j));
  j = fs.ToJson();
  j["/etc/hostname"]["t"] = 7;
  EXPECT_FALSE(TarFs::FromJson(j));
  j = fs.ToJson();
  j["/etc/hostname"]["d"] = 12;
  EXPECT_FALSE(TarFs::FromJson(j));
}

}  // namespace
}  // namespace zunvm
