#include "rest/container_view_cache.h"

#include <gtest/gtest.h>

#include "rest/views.h"

namespace zunvm {
namespace {

Container Running(uint64_t revision) {
  Container c;
  c.uuid = "00000000-0000-0000-0000-00000000000a";
  c.name = "web";
  c.image = "nginx";
  c.status = ContainerStatus::kRunning;
  c.created_at = TimePoint{} + std::chrono::hours(24 * 365 * 56);
  c.started_at = c.created_at;
  c.host = "h1";
  c.revision = revision;
  return c;
}

std::string Render(ContainerViewCache& cache, const Container& c, const std::string& base, TimePoint now, bool admin) {
  std::string out = "[";
  cache.AppendTo(out, c, base, now, admin);
  return out.substr(1);
}

// Every answer must be exactly what rendering afresh gives.
void ExpectFresh(ContainerViewCache& cache, const Container& c, const std::string& base, TimePoint now, bool admin) {
  EXPECT_EQ(Render(cache, c, base, now, admin), DumpJson(ContainerView(c, base, now, admin)));
}

TEST(ContainerViewCache, AnswersWhatAFreshRenderingGivesAsThingsChange) {
  ContainerViewCache cache;
  Container c = Running(7);
  const TimePoint t0 = *c.started_at + std::chrono::minutes(5);
  ExpectFresh(cache, c, "http://a:9517", t0, true);
  ExpectFresh(cache, c, "http://a:9517", t0, true);                          // the cached one
  ExpectFresh(cache, c, "http://a:9517", t0 + std::chrono::seconds(1), true);  // "Up 5 minutes" still
  ExpectFresh(cache, c, "http://a:9517", t0 + std::chrono::minutes(1), true);  // "Up 6 minutes"
  ExpectFresh(cache, c, "http://a:9517", t0, false);                           // no admin-only fields
  EXPECT_EQ(Render(cache, c, "http://a:9517", t0, false).find("\"host\""), std::string::npos);
  ExpectFresh(cache, c, "http://b:9517", t0, true);                            // links follow the URL
  Container renamed = c;
  renamed.name = "api";
  renamed.revision = 8;  // the store gives a changed record a new revision
  ExpectFresh(cache, renamed, "http://b:9517", t0, true);
  Container unstored = c;  // revision 0: never from the cache, even with the same uuid
  unstored.revision = 0;
  unstored.name = "other";
  ExpectFresh(cache, unstored, "http://b:9517", t0, true);
}

TEST(ContainerViewCache, StaysBounded) {
  ContainerViewCache cache;
  Container c = Running(1);
  const TimePoint now = *c.started_at;
  for (size_t i = 0; i < ContainerViewCache::kMaxEntries + 10; ++i) {
    c.uuid = "u-" + std::to_string(i);
    ExpectFresh(cache, c, "http://a", now, true);
  }
  EXPECT_LE(cache.Size(), ContainerViewCache::kMaxEntries);
}

TEST(CollectionText, IsTheCollectionBody) {
  const std::vector<std::string> items = {R"({"a":1})", R"({"b":"x"})"};
  auto each = [&](size_t i, std::string& out) { out += items[i]; };
  nlohmann::json parsed = nlohmann::json::array({nlohmann::json::parse(items[0]), nlohmann::json::parse(items[1])});
  EXPECT_EQ(nlohmann::json::parse(CollectionText("containers", 2, each, 2, "http://n")),
            Collection("containers", parsed, 2, "http://n"));
  EXPECT_EQ(nlohmann::json::parse(CollectionText("containers", 2, each, 5, "http://n")),
            Collection("containers", parsed, 5, "http://n"));
  EXPECT_EQ(nlohmann::json::parse(CollectionText("containers", 0, each, 5, "")),
            Collection("containers", nlohmann::json::array(), 5, ""));
}

}  // namespace
}  // namespace zunvm
