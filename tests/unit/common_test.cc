#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "common/base64.h"
#include "common/durable_file.h"
#include "common/ids.h"
#include "common/logging.h"
#include "common/shlex.h"
#include "common/strings.h"
#include "common/timefmt.h"
#include "tests/unit/test_util.h"

namespace zunvm {
namespace {

TEST(Strings, KebabCase) {
  EXPECT_EQ(KebabCase("ContainerNotFound"), "container-not-found");
  EXPECT_EQ(KebabCase("InvalidStateException"), "invalid-state-exception");
  EXPECT_EQ(KebabCase("Conflict"), "conflict");
  EXPECT_EQ(KebabCase("InvalidParamInVersion"), "invalid-param-in-version");
}

TEST(Strings, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));  // surrogate
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

TEST(Strings, PercentDecode) {
  EXPECT_EQ(*PercentDecode("a%20b+c", true), "a b c");
  EXPECT_EQ(*PercentDecode("a+b", false), "a+b");
  EXPECT_FALSE(PercentDecode("%2", false));
  EXPECT_FALSE(PercentDecode("%zz", false));
  EXPECT_FALSE(PercentDecode("abc%", false));
}

TEST(Strings, Booleans) {
  for (const char* t : {"True", "true", "TRUE", "1", "on", "yes", "y", "t"}) {
    EXPECT_EQ(ParseBoolExtended(t), true) << t;
  }
  for (const char* f : {"False", "false", "0", "off", "no", "n", "f"}) {
    EXPECT_EQ(ParseBoolExtended(f), false) << f;
  }
  EXPECT_FALSE(ParseBoolExtended("maybe"));
  EXPECT_FALSE(ParseBoolStrict("1"));
  EXPECT_EQ(ParseBoolStrict("False"), false);
}

TEST(Strings, Numbers) {
  EXPECT_EQ(ParseInt("42"), 42);
  EXPECT_FALSE(ParseInt("42x"));
  EXPECT_FALSE(ParseInt(""));
  EXPECT_FALSE(ParseInt(" 1"));
  EXPECT_FALSE(ParseInt("99999999999999999999999"));
  EXPECT_DOUBLE_EQ(*ParseDouble("0.5"), 0.5);
  EXPECT_FALSE(ParseDouble("nan"));
  EXPECT_FALSE(ParseDouble("inf"));
}

TEST(Shlex, SplitsLikePosixShell) {
  EXPECT_EQ(*ShellSplit(R"("echo" "hi" "there")"), (std::vector<std::string>{"echo", "hi", "there"}));
  EXPECT_EQ(*ShellSplit("sh -c 'echo a; exit 3'"),
            (std::vector<std::string>{"sh", "-c", "echo a; exit 3"}));
  EXPECT_EQ(*ShellSplit(R"(a\ b "c\"d" e'f'g)"), (std::vector<std::string>{"a b", "c\"d", "efg"}));
  EXPECT_TRUE(ShellSplit("   ")->empty());
  EXPECT_FALSE(ShellSplit("'unterminated"));
  EXPECT_FALSE(ShellSplit("\"unterminated"));
  EXPECT_FALSE(ShellSplit("trailing\\"));
}

TEST(Ids, UuidShapes) {
  std::string u = NewUuid();
  EXPECT_EQ(u.size(), 36u);
  EXPECT_TRUE(IsUuidLike(u));
  EXPECT_NE(u, NewUuid());
  EXPECT_FALSE(IsUuidLike("not-a-uuid"));
  EXPECT_EQ(NewRequestId().rfind("req-", 0), 0u);
  std::string n = GenerateContainerName();
  EXPECT_NE(n.find("-container"), std::string::npos);
}

TEST(TimeFmt, HumanDurationMatchesDocker) {
  using std::chrono::seconds;
  EXPECT_EQ(HumanDuration(seconds(0)), "Less than a second");
  EXPECT_EQ(HumanDuration(seconds(1)), "1 second");
  EXPECT_EQ(HumanDuration(seconds(3)), "3 seconds");
  EXPECT_EQ(HumanDuration(seconds(60)), "About a minute");
  EXPECT_EQ(HumanDuration(seconds(150)), "2 minutes");
  EXPECT_EQ(HumanDuration(seconds(3600)), "About an hour");
  EXPECT_EQ(HumanDuration(seconds(3 * 3600)), "3 hours");
  EXPECT_EQ(HumanDuration(seconds(3 * 86400)), "3 days");
}

TEST(TimeFmt, Rfc3339RoundTripAndSince) {
  TimePoint t = FromMicros(1700000000123456);
  std::string s = FormatRfc3339Nano(t);
  EXPECT_EQ(s, "2023-11-14T22:13:20.123456000Z");
  EXPECT_EQ(ToMicros(*ParseRfc3339Nano(s)), 1700000000123456);
  EXPECT_EQ(FormatApiTime(t), "2023-11-14 22:13:20+00:00");
  EXPECT_EQ(ToMicros(*ParseSince("1700000000")), 1700000000000000);
  EXPECT_EQ(ToMicros(*ParseSince("2023-11-14 22:13:20,500")), 1700000000500000);
  EXPECT_FALSE(ParseSince("yesterday"));
  EXPECT_FALSE(ParseSince("-5"));
}

TEST(Base64, RoundTripAndRejects) {
  std::string raw("\x00\x01\xfe\xff tar", 8);
  EXPECT_EQ(*Base64Decode(Base64Encode(raw)), raw);
  EXPECT_EQ(Base64Encode("hi"), "aGk=");
  EXPECT_EQ(*Base64Decode("aGk="), "hi");
  EXPECT_FALSE(Base64Decode("a"));
  EXPECT_FALSE(Base64Decode("a=b="));
  EXPECT_FALSE(Base64Decode("!!!!"));
}

// ENOSPC and EDQUOT are NoSpace (the API's 409 container.no-space-left), naming what could
// not be written and what to do; any other errno stays Internal.
TEST(Status, WriteErrorTellsAFullDiskApart) {
  for (int err : {ENOSPC, EDQUOT}) {
    Status st = WriteError("cannot write /state/x", err);
    EXPECT_EQ(st.code(), Code::kNoSpace);
    EXPECT_EQ(st.kind(), "NoSpaceLeft");
    EXPECT_EQ(st.message().rfind("cannot write /state/x: no space left on its filesystem; free space there", 0), 0u)
        << st.message();
  }
  Status io = WriteError("cannot write /state/x", EIO);
  EXPECT_EQ(io.code(), Code::kInternal);
  EXPECT_EQ(io.message(), std::string("cannot write /state/x: ") + std::strerror(EIO));
  EXPECT_STREQ(CodeName(Code::kNoSpace), "NoSpace");
}

TEST(DurableFile, AFullDiskIsNoSpaceAndLeavesTheOldFile) {
  testing_util::SmallTmpfs fs("1m");
  ASSERT_TRUE(fs.mounted());
  const std::string path = fs.path() + "/record";
  ASSERT_TRUE(WriteFileDurably(path, "old").ok());
  ASSERT_TRUE(fs.Fill());
  Status st = WriteFileDurably(path, std::string(64 * 1024, 'n'));
  EXPECT_EQ(st.code(), Code::kNoSpace) << st.ToString();
  EXPECT_NE(st.message().find(path), std::string::npos) << st.message();
  std::ifstream in(path);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "old");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  fs.Free();
  EXPECT_TRUE(WriteFileDurably(path, "new").ok());
}

}  // namespace
}  // namespace zunvm

namespace zunvm {
namespace {

TEST(Logging, LogFileRotatesAndCanGoBackToStderr) {
  char tmpl[] = "/tmp/zunvm-log-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, file = dir + "/zunvmd.log";
  ASSERT_TRUE(SetLogFile(file, 4096, 2).ok());
  auto log = Logger("logtest");
  log->info("first line");  // in the file at once, without a flush (tail -f, crashes)
  {
    std::ifstream in(file);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(all.find("info [logtest] first line"), std::string::npos) << all;
  }
  for (int i = 0; i < 200; ++i) log->warn("line {} of a log that outgrows 4096 bytes", i);
  log->flush();
  EXPECT_TRUE(std::filesystem::exists(file));
  EXPECT_TRUE(std::filesystem::exists(dir + "/zunvmd.1.log"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/zunvmd.2.log"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/zunvmd.3.log"));  // backups: 2
  EXPECT_LE(std::filesystem::file_size(file), 4096u);
  EXPECT_TRUE(SetLogFile("", 0, 0).ok());  // back to stderr for the other tests
  Status bad = SetLogFile(file + "/under-a-regular-file.log", 4096, 2);
  EXPECT_EQ(bad.code(), Code::kInternal) << bad.ToString();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace zunvm
