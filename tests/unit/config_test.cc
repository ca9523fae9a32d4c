#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/config.h"
#include "service/host_info.h"
#include "tests/unit/test_util.h"

namespace zunvm {
namespace {

std::string SamplePath() {
  std::string here = __FILE__;
  return here.substr(0, here.rfind("tests/unit/")) + "etc/zun/zunvm.conf.sample";
}

TEST(Config, EmptyFileKeepsDefaults) {
  Config cfg;
  ASSERT_TRUE(LoadConfigText("", cfg).ok());
  EXPECT_EQ(cfg.port, 9517);
  EXPECT_EQ(cfg.host_ip, "127.0.0.1");
  EXPECT_TRUE(ValidateConfig(cfg).ok());
}

TEST(Config, ParsesEveryType) {
  Config cfg;
  Status st = LoadConfigText(
      "[DEFAULT]\ndebug = yes\ndefault_cpu = 0.5\nruntimes = kata, runc\n"
      "[api]\nport = 0\nauth_strategy = token\nauth_tokens = a,b\n"
      "[database]\nconnection = sqlite:////tmp/x.sqlite\n",
      cfg);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(cfg.debug);
  EXPECT_DOUBLE_EQ(cfg.default_cpu, 0.5);
  EXPECT_EQ(cfg.runtimes, (std::vector<std::string>{"kata", "runc"}));
  EXPECT_EQ(cfg.port, 0);
  EXPECT_EQ(cfg.auth_tokens, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(cfg.DbPath(), "/tmp/x.sqlite");
  EXPECT_TRUE(ValidateConfig(cfg).ok());
}

struct BadCase {
  const char* text;
  const char* needle;  // must appear in the message
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.needle; }

class ConfigRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigRejects, NamingTheOption) {
  Config cfg;
  Status st = LoadConfigText(GetParam().text, cfg);
  if (st.ok()) st = ValidateConfig(cfg);
  ASSERT_FALSE(st.ok()) << GetParam().text;
  EXPECT_NE(st.message().find(GetParam().needle), std::string::npos) << st.message();
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConfigRejects,
    ::testing::Values(BadCase{"[api]\nport = abc\n", "[api] port"},
                      BadCase{"[api]\nport = 70000\n", "[api] port"},
                      BadCase{"[api]\nprot = 1\n", "unknown option [api] prot"},
                      BadCase{"[foo]\nx = 1\n", "unknown section [foo]"},
                      BadCase{"[DEFAULT]\ndebug = perhaps\n", "[DEFAULT] debug"},
                      BadCase{"[DEFAULT]\ndefault_cpu = 1.5x\n", "[DEFAULT] default_cpu"},
                      BadCase{"[api]\nthreads = 1\n", "[api] threads"},
                      BadCase{"[api]\nauth_strategy = token\n", "[api] auth_tokens"},
                      BadCase{"[api]\nauth_strategy = magic\n", "[api] auth_strategy"},
                      BadCase{"[api]\nhost_ip = 0.0.0.0\n", "refusing to serve without authentication"},
                      BadCase{"[api]\nhost_ip = nowhere\n", "[api] host_ip"},
                      BadCase{"[api]\nssl_cert_file = /nonexistent\nssl_key_file = /nonexistent\n", "[api] ssl_cert_file"},
                      BadCase{"[libvirt]\nvirt_type = xen\n", "[libvirt] virt_type"},
                      BadCase{"[DEFAULT]\ncontainer_runtime = runc\n", "[DEFAULT] container_runtime"},
                      BadCase{"[DEFAULT]\nminimum_memory = 1024\n", "[DEFAULT] default_memory"},
                      BadCase{"this is not ini\n", "syntax error"}));

TEST(Config, OpenBindAllowedWithTokenOrExplicitly) {
  Config cfg;
  ASSERT_TRUE(LoadConfigText("[api]\nhost_ip = 0.0.0.0\nauth_strategy = token\nauth_tokens = t\n", cfg).ok());
  EXPECT_TRUE(ValidateConfig(cfg).ok());
  Config open;
  ASSERT_TRUE(LoadConfigText("[api]\nhost_ip = ::\nallow_insecure_bind = true\n", open).ok());
  EXPECT_TRUE(ValidateConfig(open).ok());
}

TEST(Config, MissingFileIsAClearError) {
  Config cfg;
  Status st = LoadConfigFile("/nonexistent/zunvm.conf", cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/nonexistent/zunvm.conf"), std::string::npos);
}

TEST(Config, SampleParsesAndDocumentsEveryOption) {
  Config cfg;
  ASSERT_TRUE(LoadConfigFile(SamplePath(), cfg).ok());
  std::ifstream in(SamplePath());
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  std::string section;
  for (const std::string& opt : KnownConfigOptions()) {
    std::string sec = opt.substr(0, opt.find('.')), key = opt.substr(opt.find('.') + 1);
    size_t at = text.find("\n[" + sec + "]\n");
    ASSERT_NE(at, std::string::npos) << sec;
    size_t end = text.find("\n[", at + 1);
    std::string body = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
    EXPECT_NE(body.find("#" + key + " ="), std::string::npos) << opt << " not in the sample";
  }
}

TEST(HostInfo, ParsersAndRealMachine) {
  auto m = ParseMeminfo("MemTotal:       24576000 kB\nMemFree:  1000 kB\nMemAvailable: 2048 kB\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->total_kib, 24576000);
  EXPECT_EQ(m->available_kib, 2048);
  EXPECT_FALSE(ParseMeminfo("nothing here"));
  EXPECT_EQ(ParseOsRelease("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(ParseOsRelease("NAME=Alpine\n"), "Alpine");
  EXPECT_EQ(ParseOsRelease(""), "Linux");
  auto h = ReadHostInfo("/", "h");
  ASSERT_TRUE(h) << h.error().ToString();
  EXPECT_GE(h->cpus, 1);
  EXPECT_GT(h->mem_total_mib, 0);
  EXPECT_GT(h->disk_total_gib, 0);
  EXPECT_FALSE(h->kernel_version.empty());
  EXPECT_EQ(h->os_type, "linux");
  EXPECT_FALSE(ReadHostInfo("/nonexistent/path", "h"));
}

}  // namespace
}  // namespace zunvm
