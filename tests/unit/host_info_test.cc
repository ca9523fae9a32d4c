// HostInfo: the pure parsers with fixed text, and the live machine.
#include "service/host_info.h"

#include <gtest/gtest.h>

namespace zunvm {
namespace {

constexpr const char* kMeminfo =
    "MemTotal:       16314204 kB\n"
    "MemFree:         1203340 kB\n"
    "MemAvailable:    9876544 kB\n"
    "Buffers:          412332 kB\n"
    "HugePages_Total:       0\n";

TEST(HostInfoParse, Meminfo) {
  auto m = ParseMeminfo(kMeminfo);
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_EQ(m->total_kib, 16314204);
  EXPECT_EQ(m->free_kib, 1203340);
  EXPECT_EQ(m->available_kib, 9876544);
}

TEST(HostInfoParse, MeminfoWithoutMemAvailableUsesMemFree) {
  auto m = ParseMeminfo("MemTotal: 2048 kB\nMemFree: 1024 kB\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->available_kib, 1024);
}

TEST(HostInfoParse, MeminfoErrors) {
  EXPECT_FALSE(ParseMeminfo(""));
  EXPECT_FALSE(ParseMeminfo("MemFree: 1 kB\n"));             // no MemTotal
  auto bad = ParseMeminfo("MemTotal: lots kB\nMemFree: 1 kB\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("MemTotal"), std::string::npos);
  EXPECT_FALSE(ParseMeminfo("MemTotal: -5 kB\n"));
  // A prefix of a known key is another key.
  EXPECT_FALSE(ParseMeminfo("MemTotalX: 5 kB\n"));
}

TEST(HostInfoParse, OsRelease) {
  EXPECT_EQ(ParseOsRelease("NAME=\"Debian GNU/Linux\"\n"
                           "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
                           "VERSION_ID=\"12\"\n"),
            "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(ParseOsRelease("PRETTY_NAME='Alpine Linux v3.19'\n"), "Alpine Linux v3.19");
  EXPECT_EQ(ParseOsRelease("# PRETTY_NAME=\"commented\"\nNAME=Alpine\n"), "Alpine");
  EXPECT_EQ(ParseOsRelease("PRETTY_NAME=\n"), "Linux");
  EXPECT_EQ(ParseOsRelease(""), "Linux");
  EXPECT_EQ(ParseOsRelease("garbage\n"), "Linux");
}

TEST(HostInfoRead, ThisMachine) {
  auto h = ReadHostInfo("/", "compute-7");
  ASSERT_TRUE(h) << h.error().ToString();
  EXPECT_EQ(h->hostname, "compute-7");
  EXPECT_GE(h->cpus, 1);
  EXPECT_GT(h->mem_total_mib, 0);
  EXPECT_LE(h->mem_free_mib, h->mem_total_mib);
  EXPECT_LE(h->mem_available_mib, h->mem_total_mib);
  EXPECT_GT(h->disk_total_gib, 0);
  EXPECT_LE(h->disk_free_gib, h->disk_total_gib);
  EXPECT_FALSE(h->kernel_version.empty());
  EXPECT_FALSE(h->architecture.empty());
  EXPECT_EQ(h->os_type, "linux");
  EXPECT_FALSE(h->os.empty());
}

TEST(HostInfoRead, EmptyOverrideMeansTheMachineHostname) {
  auto h = ReadHostInfo("/", "");
  ASSERT_TRUE(h) << h.error().ToString();
  EXPECT_FALSE(h->hostname.empty());
}

TEST(HostInfoRead, MissingDiskPathIsAnError) {
  auto h = ReadHostInfo("/nonexistent/zunvm/state", "h");
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message().find("/nonexistent/zunvm/state"), std::string::npos)
      << h.error().message();
}

}  // namespace
}  // namespace zunvm
