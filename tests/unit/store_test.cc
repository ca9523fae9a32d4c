#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <future>
#include <thread>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <set>

#include "db/action_store.h"
#include "db/container_store.h"
#include "db/database.h"
#include "db/meta_store.h"
#include "tests/unit/test_util.h"

namespace zunvm {
namespace {

using testing_util::TempDir;

Container Make(const std::string& uuid, const std::string& name, int64_t memory = 512) {
  Container c;
  c.uuid = uuid;
  c.name = name;
  c.image = "busybox";
  c.memory = memory;
  c.command = std::vector<std::string>{"sleep", "1"};
  c.project_id = "p";
  c.user_id = "u";
  c.created_at = std::chrono::system_clock::now();
  return c;
}

TEST(Database, MigratesAndReopens) {
  TempDir dir;
  std::string path = dir.path() + "/z.sqlite";
  {
    auto db = Database::Open(path);
    ASSERT_TRUE(db) << db.error().ToString();
    EXPECT_EQ((*db)->SchemaVersion(), LatestSchemaVersion());
    ContainerStore store(db->get());
    Container c = Make("00000000-0000-0000-0000-000000000001", "a");
    ASSERT_TRUE(store.Insert(c).ok());
  }
  auto db = Database::Open(path);
  ASSERT_TRUE(db);
  ContainerStore store(db->get());
  auto c = store.Get("00000000-0000-0000-0000-000000000001");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name, "a");
  EXPECT_EQ(*c->command, (std::vector<std::string>{"sleep", "1"}));
}

TEST(Database, RefusesNewerSchema) {
  TempDir dir;
  std::string path = dir.path() + "/z.sqlite";
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("PRAGMA user_version = 999");
  }
  auto db = Database::Open(path);
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().message().find("newer"), std::string::npos);
  EXPECT_NE(db.error().message().find(path), std::string::npos);
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("PRAGMA user_version").getInt(), 999);  // left as it was
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteBytes(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

// Not a database at all, or one whose pages are damaged: refused with the path and what to do,
// the file byte for byte as it was.
TEST(Database, RefusesADamagedFileAndLeavesItAlone) {
  TempDir dir;
  const std::string junk = dir.path() + "/junk.sqlite";
  WriteBytes(junk, std::string(8192, '\x5a'));
  auto db = Database::Open(junk);
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().message().find("leaves the file as it is"), std::string::npos) << db.error().message();
  EXPECT_EQ(ReadBytes(junk), std::string(8192, '\x5a'));

  const std::string path = dir.path() + "/z.sqlite";
  {
    auto made = Database::Open(path);
    ASSERT_TRUE(made);
    ContainerStore store(made->get());
    for (int i = 0; i < 200; ++i) {
      char uuid[40];
      std::snprintf(uuid, sizeof uuid, "00000000-0000-0000-0000-%012d", i);
      Container c = Make(uuid, "c" + std::to_string(i));
      ASSERT_TRUE(store.Insert(c).ok());
    }
  }
  std::string bytes = ReadBytes(path);
  ASSERT_GT(bytes.size(), 16384u);
  for (size_t i = 4096 + 100; i < 4096 + 2000; ++i) bytes[i] = '\xff';  // inside page 2
  WriteBytes(path, bytes);
  db = Database::Open(path);
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().message().find(path), std::string::npos) << db.error().message();
  EXPECT_EQ(ReadBytes(path), bytes);
}

// Group commit: concurrent writers share COMMITs, each write is all or nothing, a failing one
// (returned or thrown) takes nothing of the others with it, and everything reported OK is there
// after a reopen.
TEST(Database, GroupCommitKeepsEachWriteAtomicAndEveryCommittedOne) {
  TempDir dir;
  const std::string path = dir.path() + "/z.sqlite";
  constexpr int kThreads = 8, kWrites = 40;
  std::atomic<int> commits{0};
  {
    auto db = Database::Open(path);
    ASSERT_TRUE(db);
    ASSERT_TRUE((*db)->Run([&](SQLite::Database& raw) {
                    raw.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)");
                    sqlite3_commit_hook(raw.getHandle(), [](void* n) { ++*static_cast<std::atomic<int>*>(n); return 0; },
                                        &commits);
                    return Status::Ok();
                  }).ok());
    std::vector<std::thread> threads;
    std::atomic<int> wrong{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kWrites; ++i) {
          const std::string k = std::to_string(t) + "-" + std::to_string(i);
          Status st = (*db)->Write([&](SQLite::Database& raw) {
            // Two rows per write; every third write fails after its first row, every fifth
            // throws (a duplicate key) after it.
            raw.exec("INSERT INTO t VALUES('" + k + "-a', 1)");
            if (i % 3 == 1) return Status::Invalid("no");
            raw.exec("INSERT INTO t VALUES('" + (i % 5 == 2 ? k + "-a" : k + "-b") + "', 2)");
            return Status::Ok();
          });
          const Code want = i % 3 == 1 ? Code::kInvalidArgument : i % 5 == 2 ? Code::kConflict : Code::kOk;
          if (st.code() != want) ++wrong;
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_LE(commits.load(), kThreads * kWrites);
    std::printf("[          ] %d writes in %d commits\n", kThreads * kWrites, commits.load());
  }
  auto db = Database::Open(path);
  ASSERT_TRUE(db);
  int ok_writes = 0;
  for (int i = 0; i < kWrites; ++i) ok_writes += (i % 3 != 1 && i % 5 != 2) ? 1 : 0;
  int rows = 0, orphans = 0;
  ASSERT_TRUE((*db)->Run([&](SQLite::Database& raw) {
                  rows = raw.execAndGet("SELECT COUNT(*) FROM t").getInt();
                  // an -a row without its -b: a failed write that left half of itself
                  orphans = raw.execAndGet("SELECT COUNT(*) FROM t a WHERE a.k LIKE '%-a' AND NOT EXISTS "
                                           "(SELECT 1 FROM t b WHERE b.k = substr(a.k, 1, length(a.k) - 1) || 'b')")
                                .getInt();
                  return Status::Ok();
                }).ok());
  EXPECT_EQ(rows, kThreads * ok_writes * 2);
  EXPECT_EQ(orphans, 0);
}

// Reads run on their own connections: one answers, with the committed state, while a write
// holds the writer connection (as during its COMMIT's fsync); it sees the write once that
// returns.
TEST(Database, ReadsDoNotWaitForAWriteInProgress) {
  TempDir dir;
  auto db = Database::Open(dir.path() + "/z.sqlite");
  ASSERT_TRUE(db);
  ASSERT_TRUE((*db)->Run([](SQLite::Database& raw) {
                  raw.exec("CREATE TABLE t (k TEXT PRIMARY KEY); INSERT INTO t VALUES('old')");
                  return Status::Ok();
                }).ok());
  auto count = [&] {
    auto n = (*db)->QueryOne<int>("SELECT COUNT(*) FROM t", [](SQLite::Statement& q) { return q.getColumn(0).getInt(); });
    return n && *n ? **n : -1;
  };
  std::promise<void> inside, release;
  std::thread writer([&] {
    EXPECT_TRUE((*db)->Write([&](SQLite::Database& raw) {
                      raw.exec("INSERT INTO t VALUES('new')");
                      inside.set_value();
                      release.get_future().wait();  // the writer connection stays busy
                      return Status::Ok();
                    }).ok());
  });
  inside.get_future().wait();
  auto read = std::async(std::launch::async, count);
  const auto answered = read.wait_for(std::chrono::seconds(10));
  const int seen = answered == std::future_status::ready ? read.get() : -2;
  release.set_value();
  writer.join();
  EXPECT_EQ(answered, std::future_status::ready);  // not queued behind the write
  EXPECT_EQ(seen, 1);                              // the uncommitted row is not seen
  EXPECT_EQ(count(), 2);  // the write returned: its row is seen
  Status refused = (*db)->Read([](SQLite::Database& raw) {
    raw.exec("INSERT INTO t VALUES('x')");
    return Status::Ok();
  });
  EXPECT_FALSE(refused.ok());  // readers are query_only
  EXPECT_EQ(count(), 2);
}

// Prepared statements are parsed once per connection and come back reset and unbound; a
// statement already in use (the same SQL nested) is prepared afresh.
TEST(Database, PreparedStatementsAreReusedResetAndNestable) {
  TempDir dir;
  auto db = Database::Open(dir.path() + "/z.sqlite");
  ASSERT_TRUE(db);
  ASSERT_TRUE((*db)->Run([&](SQLite::Database& raw) {
                  raw.exec("CREATE TABLE t (k INTEGER); INSERT INTO t VALUES(1), (2), (3)");
                  const std::string sql = "SELECT k FROM t WHERE k >= ? ORDER BY k";
                  SQLite::Statement* first = nullptr;
                  {
                    CachedStatement q = (*db)->Prepare(raw, sql);
                    first = &*q;
                    q->bind(1, 2);
                    EXPECT_TRUE(q->executeStep());  // stopped mid-rows: the handle resets it
                    EXPECT_EQ(q->getColumn(0).getInt(), 2);
                    CachedStatement nested = (*db)->Prepare(raw, sql);
                    EXPECT_NE(&*nested, first);
                    nested->bind(1, 3);
                    EXPECT_TRUE(nested->executeStep());
                    EXPECT_EQ(nested->getColumn(0).getInt(), 3);
                  }
                  CachedStatement again = (*db)->Prepare(raw, sql);
                  EXPECT_EQ(&*again, first);  // parsed once
                  EXPECT_FALSE(again->executeStep());  // unbound: k >= NULL matches nothing
                  return Status::Ok();
                }).ok());
}

// A full disk is NoSpace (a 409, not a 500) naming the directory of the database, the state
// dir; reads go on, the failed write leaves nothing behind, and writes work again once there
// is room, on the same connection.
TEST(Database, AFullDiskIsNoSpaceNamingTheStateDir) {
  testing_util::SmallTmpfs fs("2m");
  ASSERT_TRUE(fs.mounted());
  const std::string path = fs.path() + "/zunvm.sqlite";
  auto db = Database::Open(path);
  ASSERT_TRUE(db) << db.error().ToString();
  ContainerStore store(db->get());
  Container a0 = Make("00000000-0000-0000-0000-000000000001", "a");
  Container b0 = Make("00000000-0000-0000-0000-000000000002", "b");
  ASSERT_TRUE(store.Insert(a0).ok());
  ASSERT_TRUE(fs.Fill());

  Status st = store.Insert(b0);
  EXPECT_EQ(st.code(), Code::kNoSpace) << st.ToString();
  EXPECT_EQ(st.kind(), "NoSpaceLeft");
  EXPECT_NE(st.message().find("No space left on the filesystem of the state directory " + fs.path() + " "),
            std::string::npos) << st.message();
  EXPECT_NE(st.message().find("Free space there"), std::string::npos) << st.message();
  auto a = store.Get("00000000-0000-0000-0000-000000000001");
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->name, "a");
  EXPECT_FALSE(store.Get("00000000-0000-0000-0000-000000000002"));

  fs.Free();
  ASSERT_TRUE(store.Insert(b0).ok());
  std::string check;
  ASSERT_TRUE((*db)->Run([&](SQLite::Database& raw) {
    check = raw.execAndGet("PRAGMA integrity_check").getString();
    return Status::Ok();
  }).ok());
  EXPECT_EQ(check, "ok");
  db->reset();
  auto again = Database::Open(path);
  ASSERT_TRUE(again) << again.error().ToString();
  ContainerStore reopened(again->get());
  EXPECT_TRUE(reopened.Get("00000000-0000-0000-0000-000000000001"));
  EXPECT_TRUE(reopened.Get("00000000-0000-0000-0000-000000000002"));
}

TEST(ContainerStore, CrudAndNames) {
  TempDir dir;
  auto db = Database::Open(dir.path() + "/z.sqlite");
  ASSERT_TRUE(db);
  ContainerStore store(db->get());
  Container a = Make("00000000-0000-0000-0000-00000000000a", "dup");
  Container b = Make("00000000-0000-0000-0000-00000000000b", "dup");
  ASSERT_TRUE(store.Insert(a).ok());
  ASSERT_TRUE(store.Insert(b).ok());
  EXPECT_LT(a.id, b.id);
  Container again = a;
  EXPECT_EQ(store.Insert(again).code(), Code::kConflict);
  EXPECT_EQ(store.FindByName("dup")->size(), 2u);
  a.status = ContainerStatus::kRunning;
  ASSERT_TRUE(store.Update(a).ok());
  EXPECT_EQ(store.Get(a.uuid)->status, ContainerStatus::kRunning);
  ASSERT_TRUE(store.Delete(a.uuid).ok());
  EXPECT_EQ(store.Get(a.uuid).error().code(), Code::kNotFound);
  EXPECT_EQ(store.Update(a).code(), Code::kNotFound);
}

TEST(ContainerStore, ReadsReuseTheParsedRecordWhileItIsUnchanged) {
  TempDir dir;
  auto db = Database::Open(dir.path() + "/z.sqlite");
  ASSERT_TRUE(db);
  ContainerStore store(db->get());
  Container a = Make("00000000-0000-0000-0000-00000000000a", "a");
  ASSERT_TRUE(store.Insert(a).ok());
  EXPECT_EQ(a.revision, 0u);  // not read from the store
  auto first = store.Get(a.uuid), second = store.Get(a.uuid);
  ASSERT_TRUE(first && second);
  EXPECT_NE(first->revision, 0u);
  EXPECT_EQ(first->revision, second->revision);
  EXPECT_EQ(store.List(ListQuery{})->at(0)->revision, first->revision);
  a.status = ContainerStatus::kRunning;
  ASSERT_TRUE(store.Update(a).ok());
  auto updated = store.Get(a.uuid);
  EXPECT_EQ(updated->status, ContainerStatus::kRunning);
  EXPECT_NE(updated->revision, first->revision);
  // A change made behind the store's back (another connection) is seen too: rows are compared.
  ASSERT_TRUE((*db)->Run([&](SQLite::Database& raw) {
                    raw.exec("UPDATE containers SET data = json_set(data, '$.name', 'renamed')");
                    return Status::Ok();
                  }).ok());
  auto renamed = store.Get(a.uuid);
  EXPECT_EQ(renamed->name, "renamed");
  EXPECT_NE(renamed->revision, updated->revision);
}

TEST(ContainerStore, Migration8ListsCapsuleMembersWithTheirCapsuleOnly) {
  TempDir dir;
  const std::string path = dir.path() + "/z.sqlite";
  const std::string member_uuid = "00000000-0000-0000-0000-00000000000b";
  {
    auto db = Database::Open(path);
    ASSERT_TRUE(db);
    ContainerStore store(db->get());
    Container solo = Make("00000000-0000-0000-0000-00000000000a", "solo");
    Container member = Make(member_uuid, "member");
    member.capsule_id = "cap-1";
    ASSERT_TRUE(store.Insert(solo).ok());
    ASSERT_TRUE(store.Insert(member).ok());
  }
  {
    // The file as schema 7 left it: no capsule_id column (the capsule only in `data`), no
    // index of lower(name).
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    raw.exec("DROP INDEX container_action_events_action; DROP INDEX containers_capsule; DROP INDEX containers_lower_name; "
             "ALTER TABLE containers DROP COLUMN capsule_id; PRAGMA user_version = 7");
  }
  auto db = Database::Open(path);
  ASSERT_TRUE(db) << db.error().ToString();
  ContainerStore store(db->get());
  auto listed = store.List(ListQuery{});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->at(0)->name, "solo");
  EXPECT_EQ(store.All()->size(), 2u);
  EXPECT_EQ(*store.Get(member_uuid)->capsule_id, "cap-1");
  // Migration 9: finishing an action finds its events by index, not by reading every event.
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  SQLite::Statement plan(raw, "EXPLAIN QUERY PLAN UPDATE container_action_events SET finish_time = 1 "
                              "WHERE action_id = 1 AND finish_time IS NULL");
  std::string steps;
  while (plan.executeStep()) steps += plan.getColumn(3).getString() + "\n";
  EXPECT_NE(steps.find("USING INDEX container_action_events_action"), std::string::npos) << steps;
}

TEST(ContainerStore, ListFiltersSortsAndPages) {
  TempDir dir;
  auto db = Database::Open(dir.path() + "/z.sqlite");
  ASSERT_TRUE(db);
  ContainerStore store(db->get());
  for (int i = 0; i < 5; ++i) {
    char uuid[37];
    std::snprintf(uuid, sizeof uuid, "00000000-0000-0000-0000-%012d", i);
    Container c = Make(uuid, "n" + std::to_string(4 - i), i % 2 ? 256 : 512);
    ASSERT_TRUE(store.Insert(c).ok());
  }
  ListQuery q;
  q.filters["memory"] = "256";
  EXPECT_EQ(store.List(q)->size(), 2u);
  q = ListQuery();
  q.sort_key = "name";
  auto byname = store.List(q);
  ASSERT_TRUE(byname);
  EXPECT_EQ(byname->front()->name, "n0");
  q.descending = true;
  EXPECT_EQ(store.List(q)->front()->name, "n4");
  // Pages of two follow the marker without repeats.
  ListQuery page;
  page.limit = 2;
  std::vector<std::string> seen;
  for (int i = 0; i < 4; ++i) {
    auto r = store.List(page);
    ASSERT_TRUE(r);
    for (const auto& c : *r) seen.push_back(c->uuid);
    if (r->size() < 2) break;
    page.marker = r->back()->uuid;
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 5u);
  ListQuery bad;
  bad.sort_key = "data; DROP TABLE containers";
  EXPECT_EQ(store.List(bad).error().code(), Code::kInvalidArgument);
  ListQuery unknown_marker;
  unknown_marker.marker = "nope";
  EXPECT_EQ(store.List(unknown_marker).error().code(), Code::kNotFound);
  ListQuery filter;
  filter.filters["name"] = "n1' OR '1'='1";
  EXPECT_TRUE(store.List(filter)->empty());
}

TEST(ActionStore, RecordsHistory) {
  TempDir dir;
  auto db = Database::Open(dir.path() + "/z.sqlite");
  ASSERT_TRUE(db);
  ActionStore actions(db->get());
  ContainerAction a;
  a.action = "start";
  a.container_uuid = "u";
  a.request_id = "req-1";
  a.user_id = "user";
  a.project_id = "proj";
  a.start_time = std::chrono::system_clock::now();
  auto id = actions.Start(a, "compute__do_container_start");
  ASSERT_TRUE(id);
  ASSERT_TRUE(actions.Finish(*id, std::chrono::system_clock::now(), "boom").ok());
  auto got = actions.Get("u", "req-1");
  ASSERT_TRUE(got);
  ASSERT_EQ(got->events.size(), 1u);
  EXPECT_EQ(*got->events[0].result, "Error");
  EXPECT_EQ(*got->message, "boom");
  EXPECT_EQ(actions.List("u")->size(), 1u);
  EXPECT_EQ(actions.Get("u", "req-2").error().code(), Code::kNotFound);
}

TEST(MetaStore, GetOrCreateIsStable) {
  TempDir dir;
  auto db = Database::Open(dir.path() + "/z.sqlite");
  ASSERT_TRUE(db);
  MetaStore meta(db->get());
  EXPECT_EQ(*meta.GetOrCreate("k", "first"), "first");
  EXPECT_EQ(*meta.GetOrCreate("k", "second"), "first");
}

}  // namespace
}  // namespace zunvm
