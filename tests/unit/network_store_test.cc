// Networks and address allocation on a real SQLite file.
#include "db/network_store.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/unit/test_util.h"

namespace zunvm {
namespace {

using testing_util::TempDir;

TEST(Ipv4, ParsesStrictlyAndFormats) {
  EXPECT_EQ(FormatIpv4(*ParseIpv4("10.88.0.254")), "10.88.0.254");
  for (const char* bad : {"", "10.88.0", "10.88.0.256", "10.088.0.1", "1.2.3.4.5", "a.b.c.d",
                          "10.88.0.1 ", "-1.0.0.0", "1..2.3"}) {
    EXPECT_FALSE(ParseIpv4(bad)) << bad;
  }
  auto s = ParseIpv4Subnet("10.88.4.0/22");
  ASSERT_TRUE(s);
  EXPECT_EQ(FormatIpv4(s->FirstHost()), "10.88.4.1");
  EXPECT_EQ(FormatIpv4(s->LastHost()), "10.88.7.254");
  EXPECT_TRUE(s->Contains(*ParseIpv4("10.88.7.9")));
  EXPECT_FALSE(s->Contains(*ParseIpv4("10.88.8.1")));
  for (const char* bad : {"10.88.0.1/24", "10.88.0.0", "10.88.0.0/33", "10.88.0.0/", "10.88.0.0/024",
                          "10.88.0.0/x"}) {
    EXPECT_FALSE(ParseIpv4Subnet(bad)) << bad;
  }
}

class NetworkStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    store_.reset();
    db_.reset();
    auto db = Database::Open(dir_.path() + "/z.sqlite");
    ASSERT_TRUE(db) << db.error().ToString();
    db_ = std::move(*db);
    store_ = std::make_unique<NetworkStore>(db_.get());
  }
  TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<NetworkStore> store_;
};

TEST_F(NetworkStoreTest, CreateFindAndRefuseDuplicates) {
  auto n = store_->Create("blue", "10.88.1.0/24");
  ASSERT_TRUE(n) << n.error().ToString();
  EXPECT_EQ(n->gateway, "10.88.1.1");
  EXPECT_EQ(store_->Get("blue")->uuid, n->uuid);
  EXPECT_EQ(store_->Get(n->uuid)->name, "blue");
  EXPECT_EQ(store_->Create("blue", "10.88.2.0/24").error().code(), Code::kConflict);
  EXPECT_EQ(store_->Create("green", "10.88.1.0/24").error().code(), Code::kConflict);
  EXPECT_EQ(store_->Create("tiny", "10.88.3.0/31").error().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Create("bad", "10.88.3.1/24").error().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Get("nope").error().code(), Code::kNotFound);
}

// Networks belong to a project: a name is unique within it; a project finds its own and the
// shared ones ("" project), by name or uuid, never another project's.
TEST_F(NetworkStoreTest, ProjectsSeeTheirOwnAndSharedNetworks) {
  auto shared = store_->Create("zunvm", "10.88.0.0/24", "");
  auto a = store_->Create("web", "10.88.1.0/24", "pa");
  auto b = store_->Create("web", "10.88.2.0/24", "pb");  // same name, another project
  ASSERT_TRUE(shared && a && b) << (b ? "" : b.error().ToString());
  EXPECT_EQ(store_->Create("web", "10.88.3.0/24", "pa").error().code(), Code::kConflict);
  EXPECT_EQ(store_->Get("web", std::string("pa"))->uuid, a->uuid);
  EXPECT_EQ(store_->Get("web", std::string("pb"))->uuid, b->uuid);
  EXPECT_EQ(store_->Get("web", std::string("pc")).error().code(), Code::kNotFound);
  EXPECT_EQ(store_->Get(b->uuid, std::string("pa")).error().code(), Code::kNotFound);
  EXPECT_EQ(store_->Get("zunvm", std::string("pa"))->uuid, shared->uuid);
  EXPECT_EQ(store_->Get(shared->uuid, std::string("pb"))->project_id, "");
  auto own = store_->Create("zunvm", "10.88.4.0/24", "pa");  // a project's own shadows the shared
  ASSERT_TRUE(own);
  EXPECT_EQ(store_->Get("zunvm", std::string("pa"))->uuid, own->uuid);
  EXPECT_EQ(store_->Get(b->uuid)->project_id, "pb");  // unscoped: any network
}

// A database of schema 4 (names unique across all networks) migrates: its networks become
// shared, keep their addresses, and the names become per project.
TEST(NetworkMigration, SchemaFourNetworksBecomeShared) {
  TempDir dir;
  std::string path = dir.path() + "/z.sqlite";
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(
        "CREATE TABLE networks (id INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL UNIQUE,"
        " name TEXT NOT NULL UNIQUE, subnet TEXT NOT NULL UNIQUE, gateway TEXT NOT NULL, created_at TEXT NOT NULL);"
        "CREATE TABLE ip_allocations (network_uuid TEXT NOT NULL REFERENCES networks(uuid), address TEXT NOT NULL,"
        " container_uuid TEXT NOT NULL, port_id TEXT NOT NULL UNIQUE, mac TEXT NOT NULL UNIQUE,"
        " PRIMARY KEY (network_uuid, address));"
        "INSERT INTO networks(uuid, name, subnet, gateway, created_at) VALUES('n-1', 'old', '10.88.5.0/24',"
        " '10.88.5.1', '2026-01-01T00:00:00.000000');"
        "INSERT INTO ip_allocations VALUES('n-1', '10.88.5.2', 'c1', 'p-1', '52:54:00:00:00:01');"
        "CREATE TABLE containers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, data TEXT NOT NULL);"  // what migration 8 changes
        "CREATE TABLE container_action_events (id INTEGER PRIMARY KEY, action_id INTEGER);");  // and 9
  }
  {
    // Every migration before 5 ran on this file: start there (other tables, beyond what later
    // migrations change, are not needed).
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    raw.exec("PRAGMA user_version = 4");
  }
  auto db = Database::Open(path);
  ASSERT_TRUE(db) << db.error().ToString();
  NetworkStore store(db->get());
  auto old = store.Get("old", std::string("any-project"));
  ASSERT_TRUE(old) << old.error().ToString();
  EXPECT_EQ(old->project_id, "");
  EXPECT_EQ(store.ForContainer("c1")->size(), 1u);
  EXPECT_TRUE(store.Create("old", "10.88.6.0/24", "pa"));  // names are per project now
  EXPECT_EQ(store.Delete("n-1").code(), Code::kConflict);  // still referenced by its address
}

TEST_F(NetworkStoreTest, AddressesAreNeverGivenTwiceAndSurviveReopen) {
  auto n = store_->Create("small", "192.168.7.0/29");  // hosts .1-.6, .1 is the gateway
  ASSERT_TRUE(n);
  std::set<std::string> addrs, macs, ports;
  for (int i = 0; i < 5; ++i) {
    auto a = store_->Allocate(n->uuid, "c" + std::to_string(i), std::nullopt);
    ASSERT_TRUE(a) << a.error().ToString();
    addrs.insert(a->address);
    macs.insert(a->mac);
    ports.insert(a->port_id);
    EXPECT_EQ(a->mac.substr(0, 9), "52:54:00:");
  }
  EXPECT_EQ(addrs, (std::set<std::string>{"192.168.7.2", "192.168.7.3", "192.168.7.4",
                                          "192.168.7.5", "192.168.7.6"}));
  EXPECT_EQ(macs.size(), 5u);
  EXPECT_EQ(ports.size(), 5u);
  auto full = store_->Allocate(n->uuid, "c5", std::nullopt);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code(), Code::kUnavailable);

  Open();  // a restart keeps every allocation
  ASSERT_TRUE(store_->ReleaseContainer("c2").ok());
  auto again = store_->Allocate(n->uuid, "c6", std::nullopt);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->address, "192.168.7.4");  // c2's, freed
  EXPECT_EQ(store_->ForContainer("c6")->size(), 1u);
  EXPECT_TRUE(store_->ForContainer("c2")->empty());
  EXPECT_EQ(store_->Delete(n->uuid).code(), Code::kConflict);  // still in use
}

// First-fit without reading every allocation: the lowest free address, whatever order
// addresses were taken, fixed and released in, and after a restart of the store.
TEST_F(NetworkStoreTest, TheLowestFreeAddressIsGivenAcrossReleasesAndFixedOnes) {
  auto n = store_->Create("fit", "10.88.11.0/24");
  ASSERT_TRUE(n);
  auto take = [&](const std::string& c, std::optional<std::string> fixed = std::nullopt) {
    auto a = store_->Allocate(n->uuid, c, fixed);
    return a ? a->address : a.error().ToString();
  };
  EXPECT_EQ(take("f", std::string("10.88.11.3")), "10.88.11.3");  // fixed, above the first free
  EXPECT_EQ(take("a"), "10.88.11.2");
  EXPECT_EQ(take("b"), "10.88.11.4");  // .3 is the fixed one
  EXPECT_EQ(take("c"), "10.88.11.5");
  ASSERT_TRUE(store_->ReleaseContainer("a").ok());
  ASSERT_TRUE(store_->ReleaseContainer("c").ok());
  EXPECT_EQ(take("d"), "10.88.11.2");
  EXPECT_EQ(take("e"), "10.88.11.5");
  auto f = store_->ForContainer("f");
  ASSERT_TRUE(f && f->size() == 1u);
  ASSERT_TRUE(store_->Release(f->at(0).port_id).ok());
  EXPECT_EQ(take("g"), "10.88.11.3");
  Open();  // a restart knows nothing of what was free: it looks from the start again
  EXPECT_EQ(take("h"), "10.88.11.6");
  ASSERT_TRUE(store_->ReleaseContainer("b").ok());
  EXPECT_EQ(take("i"), "10.88.11.4");
}

TEST_F(NetworkStoreTest, FixedAddressesAreHonouredOrRefused) {
  auto n = store_->Create("fixed", "10.88.9.0/24");
  ASSERT_TRUE(n);
  auto a = store_->Allocate(n->uuid, "c1", std::string("10.88.9.77"));
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->address, "10.88.9.77");
  EXPECT_EQ(store_->Allocate(n->uuid, "c2", std::string("10.88.9.77")).error().code(), Code::kConflict);
  for (const char* bad : {"10.88.9.1", "10.88.9.0", "10.88.9.255", "10.88.10.5", "not-an-ip"}) {
    auto r = store_->Allocate(n->uuid, "c3", std::string(bad));
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << bad;
  }
  auto next = store_->Allocate(n->uuid, "c4", std::nullopt);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->address, "10.88.9.2");
  ASSERT_TRUE(store_->Release(a->port_id).ok());
  EXPECT_EQ(store_->Release(a->port_id).code(), Code::kNotFound);
  ASSERT_TRUE(store_->ReleaseContainer("c4").ok());
  EXPECT_TRUE(store_->Delete(n->uuid).ok());
  EXPECT_EQ(store_->Allocate(n->uuid, "c5", std::nullopt).error().code(), Code::kNotFound);
}

}  // namespace
}  // namespace zunvm
