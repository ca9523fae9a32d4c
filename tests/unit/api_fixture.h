// The API end to end in-process: a real Daemon (SQLite in a temp dir, the fake driver, the
// HTTP server on port 0) driven through Api::Handle with hand-made requests.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "rest/api.h"
#include "app/daemon.h"
#include "tests/fakes/test_drivers.h"
#include "tests/unit/test_util.h"

namespace zunvm::testing_util {

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Boot(); }

  void Boot() {
    Config cfg;
    if (configure_) configure_(cfg);
    cfg.state_dir = dir_.path();
    cfg.container_driver = "fake";
    cfg.port = 0;
    cfg.sync_container_state_interval = 0;
    cfg.execute_timeout = 2;
    cfg.host = "testhost";
    daemon_ = std::make_unique<Daemon>(cfg, MakeTestDriver);
    zunvm::Status st = daemon_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& version = "container 1.40",
                    const std::string& ctype = "application/json") {
    HttpRequest r;
    r.method = method;
    auto q = target.find('?');
    r.raw_path = target.substr(0, q);
    if (q != std::string::npos) r.raw_query = target.substr(q + 1);
    r.headers["host"] = "127.0.0.1:9517";
    if (!version.empty()) r.headers["openstack-api-version"] = version;
    if (!ctype.empty()) r.headers["content-type"] = ctype;
    r.body = body;
    return daemon_->api()->Handle(r);
  }

  nlohmann::json Body(const HttpResponse& r) { return nlohmann::json::parse(r.body, nullptr, false); }

  std::string StatusOf(const std::string& id) {
    auto r = Call("GET", "/v1/containers/" + id);
    return r.status == 200 ? Body(r)["status"].get<std::string>() : "gone";
  }

  std::string Run(const std::string& body) {
    auto r = Call("POST", "/v1/containers?run=true", body);
    EXPECT_EQ(r.status, 202) << r.body;
    return Body(r)["uuid"].get<std::string>();
  }

  TempDir dir_;
  std::function<void(Config&)> configure_;  // tests' own options, applied first by Boot()
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace zunvm::testing_util
