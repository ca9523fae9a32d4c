// The metrics registry's text (common/metrics.h) and GET /metrics through the API (auth, the
// switch, what is counted). The text is also parsed by Prometheus' own Python parser and
// scraped by a real Prometheus in tests/e2e/test_metrics.py.
#include "common/metrics.h"

#include <gtest/gtest.h>

#include "tests/unit/api_fixture.h"

namespace zunvm {
namespace {

TEST(Metrics, CountersAndHistogramsRenderInTheTextFormat) {
  metrics::Registry r;
  auto& c = r.Counter("t_requests_total", "Requests\nby code", {"code", "path"});
  c.Inc({"200", "/a"});
  c.Inc({"200", "/a"}, 2);
  c.Inc({"500", "/\"q\"\\"});
  c.Inc({"200", "/a"}, -5);  // counters never go down
  EXPECT_EQ(c.Value({"200", "/a"}), 3);
  EXPECT_EQ(&r.Counter("t_requests_total", "", {}), &c);  // the same family again
  auto& h = r.Histogram("t_seconds", "Durations", {}, {0.5, 1});
  h.Observe({}, 0.25);
  h.Observe({}, 0.5);  // on a bound: in that bucket
  h.Observe({}, 3);
  EXPECT_EQ(h.Count({}), 3u);
  EXPECT_EQ(r.Render(),
            "# HELP t_requests_total Requests\\nby code\n"
            "# TYPE t_requests_total counter\n"
            "t_requests_total{code=\"200\",path=\"/a\"} 3\n"
            "t_requests_total{code=\"500\",path=\"/\\\"q\\\"\\\\\"} 1\n"
            "# HELP t_seconds Durations\n"
            "# TYPE t_seconds histogram\n"
            "t_seconds_bucket{le=\"0.5\"} 2\n"
            "t_seconds_bucket{le=\"1\"} 2\n"
            "t_seconds_bucket{le=\"+Inf\"} 3\n"
            "t_seconds_sum 3.75\n"
            "t_seconds_count 3\n");
}

TEST(Metrics, CollectorsWriteGaugesUntilRemoved) {
  metrics::Registry r;
  int calls = 0;
  {
    metrics::CollectorHandle h = r.AddCollector([&](metrics::GaugeWriter& w) {
      ++calls;
      w.Gauge("t_things", "Things", {"kind"});
      w.Sample({"a"}, 2);
      w.Sample({"b", "extra label value"}, 0.5);  // cut to the family's labels
    });
    EXPECT_EQ(r.Render(), "# HELP t_things Things\n# TYPE t_things gauge\nt_things{kind=\"a\"} 2\nt_things{kind=\"b\"} 0.5\n");
    metrics::CollectorHandle moved = std::move(h);
    EXPECT_NE(r.Render(), "");
  }
  EXPECT_EQ(r.Render(), "");
  EXPECT_EQ(calls, 2);
}

// Two collectors (say, the VM and the runc/crun drivers) writing one family: one header, all
// samples, in the order first written; a family of one collector only is left alone.
TEST(Metrics, CollectorsShareAFamily) {
  metrics::Registry r;
  auto vm = r.AddCollector([](metrics::GaugeWriter& w) {
    w.Gauge("t_rss", "Memory", {"sandbox"});
    w.Sample({"vm-1"}, 1);
    w.Gauge("t_vm_only", "VMs", {});
    w.Sample({}, 3);
  });
  auto oci = r.AddCollector([](metrics::GaugeWriter& w) {
    w.Sample({"stray"}, 9);  // before any Gauge call: dropped, not added to the last family
    w.Gauge("t_rss", "Memory", {"sandbox"});
    w.Sample({"ctr-1"}, 2);
  });
  EXPECT_EQ(r.Render(),
            "# HELP t_rss Memory\n# TYPE t_rss gauge\nt_rss{sandbox=\"vm-1\"} 1\nt_rss{sandbox=\"ctr-1\"} 2\n"
            "# HELP t_vm_only VMs\n# TYPE t_vm_only gauge\nt_vm_only 3\n");
}

class MetricsApiTest : public testing_util::ApiTest {
 protected:
  void SetUp() override {}
  HttpResponse Scrape(const std::string& header = "", const std::string& value = "") {
    HttpRequest r;
    r.method = "GET";
    r.raw_path = "/metrics";
    if (!header.empty()) r.headers[header] = value;
    return daemon_->api()->Handle(r);
  }
};

TEST_F(MetricsApiTest, ScrapeNeedsTheTokenAsHeaderOrBearerAndCountsRequests) {
  configure_ = [](Config& c) {
    c.auth_strategy = "token";
    c.auth_tokens = {"s3cret-token-of-the-test"};
  };
  Boot();
  EXPECT_EQ(Scrape().status, 401);
  EXPECT_EQ(Scrape("authorization", "Bearer wrong").status, 401);
  HttpResponse ok = Scrape("x-auth-token", "s3cret-token-of-the-test");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.content_type, "text/plain; version=0.0.4; charset=utf-8");
  HttpResponse bearer = Scrape("authorization", "Bearer s3cret-token-of-the-test");
  ASSERT_EQ(bearer.status, 200) << bearer.body;
  // The first scrape is counted under its route, the 401s too; process and container gauges.
  EXPECT_NE(bearer.body.find("zunvm_api_requests_total{route=\"/metrics\",method=\"GET\",status=\"401\"}"),
            std::string::npos);
  EXPECT_NE(bearer.body.find("zunvm_process_threads "), std::string::npos);
  EXPECT_NE(bearer.body.find("zunvm_containers{status=\"Running\",runtime=\"kata\"} 0"), std::string::npos);
  HttpRequest post;
  post.method = "POST";
  post.raw_path = "/metrics";
  post.headers["x-auth-token"] = "s3cret-token-of-the-test";
  EXPECT_EQ(daemon_->api()->Handle(post).status, 405);
}

TEST_F(MetricsApiTest, TheSwitchTurnsItOff) {
  configure_ = [](Config& c) { c.metrics_enabled = false; };
  Boot();
  EXPECT_EQ(Scrape().status, 404);
}

}  // namespace
}  // namespace zunvm
