// RunFakeProgram: what fake container processes print, how long they live, and what they write.
#include "tests/fakes/fake_program.h"

#include <gtest/gtest.h>

namespace zunvm {
namespace {

class FakeProgramTest : public ::testing::Test {
 protected:
  FakeProgramTest() : fs_("box") {
    env_.hostname = "box";
    env_.env = {{"GREETING", "hello world"}, {"HOME", "/root"}};
  }
  FakeRun Run(std::vector<std::string> argv) { return RunFakeProgram(argv, fs_, env_); }
  FakeRun Sh(const std::string& script) { return Run({"/bin/sh", "-c", script}); }

  TarFs fs_;
  FakeEnv env_;
};

TEST_F(FakeProgramTest, SimpleCommands) {
  auto r = Run({"echo", "hi", "there"});
  EXPECT_EQ(r.Text(Stream::kStdout), "hi there\n");
  EXPECT_EQ(r.Text(Stream::kStderr), "");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.forever);
  EXPECT_EQ(r.seconds, 0);
  EXPECT_EQ(Run({"echo", "-n", "x"}).Text(), "x");
  EXPECT_EQ(Run({"/bin/true"}).exit_code, 0);
  EXPECT_EQ(Run({"false"}).exit_code, 1);
  EXPECT_EQ(Run({"exit", "42"}).exit_code, 42);
  EXPECT_EQ(Run({"exit", "300"}).exit_code, 44);
  EXPECT_EQ(Run({"printf", "%s=%d\\n", "a", "1", "b", "2"}).Text(), "a=1\nb=2\n");
  EXPECT_EQ(Run({"hostname"}).Text(), "box\n");
  EXPECT_EQ(Run({"uname"}).Text(), "Linux\n");
  EXPECT_EQ(Run({"uname", "-r"}).Text(), std::string(kFakeKernelRelease) + "\n");
  EXPECT_EQ(Run({"uname", "-a"}).Text(),
            "Linux box 6.1.0-zunvm-fake #1 SMP PREEMPT_DYNAMIC x86_64 GNU/Linux\n");
  EXPECT_EQ(Run({"env"}).Text(), "GREETING=hello world\nHOME=/root\n");
  EXPECT_EQ(Run({"printenv", "GREETING"}).Text(), "hello world\n");
  EXPECT_EQ(Run({"pwd"}).Text(), "/\n");
  EXPECT_EQ(Run({"id"}).Text(), "uid=0(root) gid=0(root) groups=0(root)\n");
  EXPECT_EQ(Run({"ls", "-l", "/etc"}).Text(), "hostname\nhosts\n");
}

TEST_F(FakeProgramTest, UnknownCommandIs127) {
  auto r = Run({"nginx", "-g", "daemon off;"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_EQ(r.Text(Stream::kStderr), "sh: nginx: not found\n");
  EXPECT_EQ(r.Text(Stream::kStdout), "");
  EXPECT_EQ(Sh("nosuch; echo after").Text(), "sh: nosuch: not found\nafter\n");
}

TEST_F(FakeProgramTest, ScriptsWithOperatorsAndStreams) {
  auto r = Sh("echo a; echo b >&2; exit 3; echo never");
  EXPECT_EQ(r.Text(Stream::kStdout), "a\n");
  EXPECT_EQ(r.Text(Stream::kStderr), "b\n");
  EXPECT_EQ(r.exit_code, 3);
  r = Sh("false && echo no || echo yes; true || echo no && echo also");
  EXPECT_EQ(r.Text(), "yes\nalso\n");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(Sh("true; false").exit_code, 1);
  EXPECT_EQ(Sh("false; exit").exit_code, 1);  // exit without a number: last status
  EXPECT_EQ(Sh("echo one\necho two # a comment").Text(), "one\ntwo\n");
}

TEST_F(FakeProgramTest, QuotesAndExpansion) {
  EXPECT_EQ(Sh("echo 'a; b' \"c && d\"").Text(), "a; b c && d\n");
  EXPECT_EQ(Sh("echo \"$GREETING\" '$GREETING' ${GREETING}!").Text(),
            "hello world $GREETING hello world!\n");
  EXPECT_EQ(Sh("false; echo $?").Text(), "1\n");
  EXPECT_EQ(Sh("X=5; export Y=6; echo $X$Y $UNSET.").Text(), "56 .\n");
  EXPECT_EQ(Sh("echo a\\;b \"q\\\"q\"").Text(), "a;b q\"q\n");
  auto r = Sh("echo 'unterminated");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.Text(Stream::kStderr).find("syntax error"), std::string::npos);
  EXPECT_EQ(Sh("echo a | cat").exit_code, 2);  // pipes: refused rather than faked
}

TEST_F(FakeProgramTest, RedirectionsWriteTheFilesystem) {
  auto r = Sh("echo one > /tmp/f; echo two >> /tmp/f; echo 'x; y' >/tmp/g; cat /tmp/f /tmp/g");
  EXPECT_EQ(r.Text(), "one\ntwo\nx; y\n");
  EXPECT_EQ(*fs_.ReadFile("/tmp/f"), "one\ntwo\n");
  r = Sh("cat /nope 2>/dev/null; echo rc=$?");
  EXPECT_EQ(r.Text(), "rc=1\n");
  r = Sh("cat /nope 2>&1");
  EXPECT_EQ(r.Text(Stream::kStdout), "cat: /nope: No such file or directory\n");
  r = Sh("cat /nope > /tmp/out 2>&1");
  EXPECT_EQ(r.Text(), "");
  EXPECT_EQ(*fs_.ReadFile("/tmp/out"), "cat: /nope: No such file or directory\n");
  r = Sh("echo x > /no/dir/f");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.Text(Stream::kStderr).find("can't create /no/dir/f"), std::string::npos);
  EXPECT_EQ(Sh("echo '>' \">>\"").Text(), "> >>\n");  // quoted: not redirections
}

TEST_F(FakeProgramTest, FilesAndDirectories) {
  auto r = Run({"cat", "/missing"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.Text(Stream::kStderr), "cat: /missing: No such file or directory\n");
  EXPECT_EQ(Run({"cat", "/etc/hostname"}).Text(), "box\n");
  EXPECT_EQ(Sh("mkdir -p /srv/a/b && touch /srv/a/b/f && cd /srv/a && ls b && pwd").Text(),
            "f\n/srv/a\n");
  EXPECT_EQ(Run({"mkdir", "/x/y"}).exit_code, 1);
  EXPECT_EQ(Run({"ls", "/nope"}).exit_code, 1);
  env_.workdir = "/srv";
  EXPECT_EQ(Sh("echo hi > rel; cat rel; pwd").Text(), "hi\n/srv\n");
  EXPECT_EQ(*fs_.ReadFile("/srv/rel"), "hi\n");
  ASSERT_TRUE(fs_.WriteFile("/tmp/log", "1\n2\n3\n", false).ok());
  EXPECT_EQ(Run({"tail", "-n", "2", "/tmp/log"}).Text(), "2\n3\n");
  ASSERT_TRUE(fs_.WriteFile("/tmp/script.sh", "echo from script; exit 7\n", false).ok());
  r = Run({"sh", "/tmp/script.sh"});
  EXPECT_EQ(r.Text(), "from script\n");
  EXPECT_EQ(r.exit_code, 7);
}

TEST_F(FakeProgramTest, SleepAdvancesTheClockOfLaterOutput) {
  auto r = Sh("echo a; sleep 0.5; echo b >&2; sleep 0.25");
  ASSERT_EQ(r.output.size(), 2u);
  EXPECT_EQ(r.output[0].at, 0);
  EXPECT_EQ(r.output[0].data, "a\n");
  EXPECT_DOUBLE_EQ(r.output[1].at, 0.5);
  EXPECT_EQ(r.output[1].stream, Stream::kStderr);
  EXPECT_DOUBLE_EQ(r.seconds, 0.75);
  EXPECT_FALSE(r.forever);
  EXPECT_DOUBLE_EQ(Run({"sleep", "1m"}).seconds, 60);
  EXPECT_EQ(Run({"sleep", "soon"}).exit_code, 1);
}

TEST_F(FakeProgramTest, ProcessesThatRunForever) {
  for (auto argv : std::vector<std::vector<std::string>>{{},
                                                         {"sleep", "inf"},
                                                         {"sleep", "infinity"},
                                                         {"sh"},
                                                         {"/bin/bash", "-i"},
                                                         {"cat"},
                                                         {"tail", "-f", "/dev/null"},
                                                         {"top"}}) {
    EXPECT_TRUE(Run(argv).forever) << (argv.empty() ? "(empty)" : argv[0]);
  }
  auto r = Sh("echo started; sleep infinity; echo never");
  EXPECT_TRUE(r.forever);
  EXPECT_EQ(r.Text(), "started\n");
}

TEST_F(FakeProgramTest, NestedShellExitEndsOnlyItself) {
  auto r = Sh("sh -c 'echo inner; exit 4'; echo outer $?");
  EXPECT_EQ(r.Text(), "inner\nouter 4\n");
  EXPECT_EQ(r.exit_code, 0);
}

TEST_F(FakeProgramTest, UserShowsInId) {
  env_.user = "1000:100";
  EXPECT_EQ(Run({"id"}).Text(), "uid=1000 gid=100 groups=100\n");
  env_.user = "app";
  EXPECT_EQ(Run({"whoami"}).Text(), "app\n");
}

}  // namespace
}  // namespace zunvm
