// LogStore and SerialExecutor.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iterator>

#include <sys/stat.h>
#include <unistd.h>

#include "service/log_store.h"
#include "common/serial_executor.h"
#include "tests/unit/test_util.h"

namespace zunvm {
namespace {

using testing_util::TempDir;

TimePoint At(int64_t sec) { return FromMicros(sec * 1000000); }

TEST(LogStore, StreamsTailSinceTimestampsAndPartials) {
  TempDir dir;
  LogStore logs(dir.path(), 1 << 20);
  ASSERT_TRUE(logs.Append("c", Stream::kStdout, "one\ntw", At(100)).ok());
  ASSERT_TRUE(logs.Append("c", Stream::kStderr, "err\n", At(101)).ok());
  ASSERT_TRUE(logs.Append("c", Stream::kStdout, "o\nthree\n", At(102)).ok());
  LogQuery all;
  EXPECT_EQ(*logs.Read("c", all), "one\nerr\ntwo\nthree\n");
  LogQuery out;
  out.stderr_ = false;
  EXPECT_EQ(*logs.Read("c", out), "one\ntwo\nthree\n");
  LogQuery tail;
  tail.tail = 2;
  EXPECT_EQ(*logs.Read("c", tail), "two\nthree\n");
  LogQuery since;
  since.since = At(101);
  EXPECT_EQ(*logs.Read("c", since), "err\nthree\n");  // "two" began at 100
  LogQuery ts;
  ts.tail = 1;
  ts.timestamps = true;
  EXPECT_EQ(*logs.Read("c", ts), FormatRfc3339Nano(At(102)) + " three\n");
  EXPECT_EQ(*logs.Read("missing", all), "");
  ASSERT_TRUE(logs.Remove("c").ok());
  EXPECT_EQ(*logs.Read("c", all), "");
}

// A full disk: Append is NoSpace naming the file; a chunk the disk took only part of is cut
// off again, so the log keeps whole records and the next chunk starts a line of its own.
TEST(LogStore, AFullDiskKeepsWholeRecords) {
  testing_util::SmallTmpfs fs("1m");
  ASSERT_TRUE(fs.mounted());
  LogStore logs(fs.path(), 1 << 20);
  ASSERT_TRUE(logs.Append("c", Stream::kStdout, "before\n", At(1)).ok());
  const std::string log = fs.path() + "/c.log";
  struct stat was{};
  ASSERT_EQ(::stat(log.c_str(), &was), 0);
  ASSERT_TRUE(fs.Fill());
  // Give back two pages: a 64 KiB chunk fits in part only.
  const std::string filler = fs.path() + "/filler";
  struct stat f{};
  ASSERT_EQ(::stat(filler.c_str(), &f), 0);
  ASSERT_EQ(::truncate(filler.c_str(), (f.st_size / 4096 - 2) * 4096), 0);

  Status st = logs.Append("c", Stream::kStdout, std::string(64 * 1024, 'x') + "\n", At(2));
  EXPECT_EQ(st.code(), Code::kNoSpace) << st.ToString();
  EXPECT_NE(st.message().find(log), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("no space left"), std::string::npos) << st.message();
  struct stat now{};
  ASSERT_EQ(::stat(log.c_str(), &now), 0);
  EXPECT_EQ(now.st_size, was.st_size);  // the torn part is gone

  fs.Free();
  ASSERT_TRUE(logs.Append("c", Stream::kStdout, "after\n", At(3)).ok());
  LogQuery all;
  EXPECT_EQ(*logs.Read("c", all), "before\nafter\n");
}

TEST(LogStore, RotatesAndReadsAcrossFiles) {
  TempDir dir;
  LogStore logs(dir.path(), 64);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(logs.Append("c", Stream::kStdout, "line" + std::to_string(i) + "\n", At(i)).ok());
  }
  LogQuery q;
  q.tail = 1;
  EXPECT_EQ(*logs.Read("c", q), "line9\n");
  std::ifstream rotated(dir.path() + "/c.log.1");
  EXPECT_TRUE(rotated.good());
}

TEST(LogStore, MarkedChunksAreStoredOnceAcrossRestarts) {
  TempDir dir;
  {
    LogStore logs(dir.path(), 1 << 20);
    ASSERT_TRUE(logs.Append("c", Stream::kStdout, "a\nb", At(1), {"Boot1+/=", 1}).ok());
    ASSERT_TRUE(logs.Append("c", Stream::kStdout, "c\n", At(2), {"Boot1+/=", 2}).ok());
    ASSERT_TRUE(logs.Append("c", Stream::kStdout, "c\n", At(3), {"Boot1+/=", 2}).ok());  // replay
  }
  LogStore logs(dir.path(), 1 << 20);  // a restarted daemon: the marks come from the file
  ASSERT_TRUE(logs.Append("c", Stream::kStdout, "a\nb", At(4), {"Boot1+/=", 1}).ok());
  ASSERT_TRUE(logs.Append("c", Stream::kStdout, "c\n", At(5), {"Boot1+/=", 2}).ok());
  ASSERT_TRUE(logs.Append("c", Stream::kStdout, "d\n", At(6), {"Boot1+/=", 3}).ok());
  ASSERT_TRUE(logs.Append("c", Stream::kStdout, "e\n", At(7), {"Boot2", 1}).ok());  // next boot
  ASSERT_TRUE(logs.Append("c", Stream::kStdout, "f\n", At(8), {}).ok());  // unmarked: always
  ASSERT_TRUE(logs.Append("c", Stream::kStdout, "f\n", At(9), {}).ok());
  // A hostile boot id that would break the record is stored without a mark.
  ASSERT_TRUE(logs.Append("c", Stream::kStdout, "g\n", At(10), {"x y\nz", 9}).ok());
  LogQuery all;
  EXPECT_EQ(*logs.Read("c", all), "a\nbc\nd\ne\nf\nf\ng\n");
  std::ifstream f(dir.path() + "/c.log");
  std::string text((std::istreambuf_iterator<char>(f)), {});
  EXPECT_NE(text.find(" stdout F:Boot1+/=.2 c\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("x y"), std::string::npos);
  ASSERT_TRUE(logs.Remove("c").ok());
  ASSERT_TRUE(logs.Append("c", Stream::kStdout, "new\n", At(11), {"Boot2", 1}).ok());
  EXPECT_EQ(*logs.Read("c", all), "new\n");
}

TEST(LogStore, MarksAreFoundInTheRotatedFile) {
  TempDir dir;
  {
    LogStore logs(dir.path(), 40);
    ASSERT_TRUE(logs.Append("c", Stream::kStderr, "a long enough line to rotate\n", At(1), {"B", 7}).ok());
  }
  ASSERT_EQ(::rename((dir.path() + "/c.log").c_str(), (dir.path() + "/c.log.1").c_str()), 0);
  LogStore logs(dir.path(), 40);
  ASSERT_TRUE(logs.Append("c", Stream::kStderr, "again\n", At(2), {"B", 7}).ok());
  ASSERT_TRUE(logs.Append("c", Stream::kStderr, "next\n", At(3), {"B", 8}).ok());
  LogQuery all;
  EXPECT_EQ(*logs.Read("c", all), "a long enough line to rotate\nnext\n");
}

TEST(SerialExecutor, OneAtATimePerKeyInOrder) {
  SerialExecutor ex(4);
  std::mutex mu;
  std::vector<int> order;
  std::atomic<int> inside{0};
  std::atomic<int> max_inside{0};
  for (int i = 0; i < 50; ++i) {
    ex.Post("k", [&, i] {
      int now = ++inside;
      max_inside = std::max(max_inside.load(), now);
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
      }
      --inside;
    });
  }
  ASSERT_TRUE(ex.WaitIdle(std::chrono::seconds(10)));
  EXPECT_EQ(max_inside.load(), 1);
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
}

TEST(SerialExecutor, DifferentKeysRunInParallel) {
  SerialExecutor ex(2);
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  bool both = false;
  auto task = [&] {
    std::unique_lock<std::mutex> lock(mu);
    ++arrived;
    cv.notify_all();
    both = cv.wait_for(lock, std::chrono::seconds(5), [&] { return arrived == 2; });
  };
  ex.Post("a", task);
  ex.Post("b", task);
  ASSERT_TRUE(ex.WaitIdle(std::chrono::seconds(10)));
  EXPECT_TRUE(both);
}

TEST(SerialExecutor, DelayedPostsAndShutdown) {
  SerialExecutor ex(1);
  std::atomic<int> ran{0};
  auto start = std::chrono::steady_clock::now();
  ex.PostAfter(std::chrono::milliseconds(50), "k", [&] { ran = 1; });
  ASSERT_TRUE(ex.WaitIdle(std::chrono::seconds(5)));
  EXPECT_EQ(ran.load(), 1);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  ex.Shutdown();
  EXPECT_FALSE(ex.Post("k", [] {}));
}

}  // namespace
}  // namespace zunvm
