// Config loading (types, strict names, line numbers), validation rules, and the sample file
// staying in step with the option table.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "common/config.h"
#include "tests/unit/test_util.h"

namespace zunvm {
namespace {

using testing_util::TempDir;

// Every field, for whole-struct comparisons. Add new fields here too.
auto Tie(const Config& c) {
  return std::tie(c.debug, c.state_dir, c.host, c.container_driver, c.default_runtime,
                  c.runtimes, c.runtime_profiles, c.default_availability_zone, c.unique_container_name_scope, c.default_cpu, c.default_memory,
                  c.default_disk, c.minimum_cpus, c.maximum_cpus, c.minimum_memory,
                  c.maximum_memory, c.minimum_disk, c.maximum_disk, c.workers,
                  c.sync_container_state_interval, c.execute_timeout, c.container_log_max_bytes,
                  c.log_file, c.log_max_bytes, c.log_backup_count,
                  c.host_ip, c.port, c.api_threads, c.api_workers, c.max_limit, c.max_body_bytes,
                  c.auth_strategy, c.auth_tokens, c.allow_insecure_bind, c.ssl_cert_file,
                  c.ssl_key_file, c.allow_privileged, c.public_url, c.metrics_enabled, c.console_enabled, c.console_host,
                  c.console_port, c.console_base_url, c.console_ticket_ttl, c.console_max_connections,
                  c.console_allow_insecure_bind, c.volume_default_size_gib, c.volume_max_size_gib,
                  c.volume_max_inject_bytes, c.volume_max_mounts, c.ks_auth_url, c.ks_username,
                  c.ks_password, c.ks_project_name, c.ks_user_domain_name, c.ks_project_domain_name,
                  c.ks_cafile, c.ks_token_cache_time, c.db_connection,
                  c.libvirt_uri, c.virt_type, c.cpu_overhead, c.tb_cache_mib, c.pool_size, c.pool_use_templates,
                  c.pool_template_dir, c.guest_kernel, c.guest_initrd,
                  c.guest_boot_timeout, c.guest_cmdline_extra, c.image_dir, c.insecure_registries, c.registry_credentials, c.registry_ca_file, c.registry_mirrors,
                  c.default_network, c.default_subnet, c.subnet_pool, c.network_mtu, c.published_host_ip, c.network_nat,
                  c.dns_nameservers, c.dns_search, c.ovs_bridge);
}

std::string SamplePath() {
  std::string here = __FILE__;
  const std::string tail = "tests/unit/config_test.cc";
  return here.substr(0, here.size() - tail.size()) + "etc/zun/zunvm.conf.sample";
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

Status Load(const std::string& text, Config& cfg) { return LoadConfigText(text, cfg); }

// Load then validate; the first error.
Status LoadAndValidate(const std::string& text) {
  Config cfg;
  Status st = LoadConfigText(text, cfg);
  return st.ok() ? ValidateConfig(cfg) : st;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---- Loading ---------------------------------------------------------------------------------

TEST(ConfigLoad, EmptyOrCommentOnlyTextKeepsDefaults) {
  for (const char* text : {"", "\n\n", "# nothing\n; nothing either\n", "[api]\n[DEFAULT]\n"}) {
    Config cfg;
    Status st = Load(text, cfg);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE(Tie(cfg) == Tie(Config{})) << text;
  }
  EXPECT_TRUE(ValidateConfig(Config{}).ok()) << ValidateConfig(Config{}).ToString();
}

TEST(ConfigLoad, SetsEachType) {
  Config cfg;
  Status st = Load(
      "[DEFAULT]\n"
      "debug = yes\n"
      "default_cpu = 0.5\n"
      "container_log_max_bytes = 8589934592\n"  // > 2^32: int64
      "runtimes = kata, runc,,  \n"
      "host = compute-1\n"
      "log_file = /var/log/zunvm/zunvmd.log\n"
      "[api]\n"
      "port = 0\n"
      "auth_strategy = token\n"
      "auth_tokens = a,b\n"
      "[guest]\n"
      "boot_timeout = -5\n"  // types only; ranges are ValidateConfig's
      "[database]\n"
      "connection = sqlite:////tmp/x.sqlite\n",
      cfg);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(cfg.debug);
  EXPECT_DOUBLE_EQ(cfg.default_cpu, 0.5);
  EXPECT_EQ(cfg.container_log_max_bytes, int64_t{8589934592});
  EXPECT_EQ(cfg.runtimes, (std::vector<std::string>{"kata", "runc"}));
  EXPECT_EQ(cfg.host, "compute-1");
  EXPECT_EQ(cfg.HostName(), "compute-1");
  EXPECT_EQ(cfg.log_file, "/var/log/zunvm/zunvmd.log");
  EXPECT_EQ(cfg.port, 0);
  EXPECT_EQ(cfg.auth_tokens, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(cfg.guest_boot_timeout, -5);
  EXPECT_EQ(cfg.DbPath(), "/tmp/x.sqlite");
  // Untouched options keep their values.
  EXPECT_EQ(cfg.host_ip, "127.0.0.1");
  EXPECT_EQ(cfg.max_limit, 1000);
}

TEST(ConfigLoad, BooleansLikeOslo) {
  const std::pair<const char*, bool> cases[] = {
      {"true", true}, {"TRUE", true}, {"yes", true},   {"On", true},  {"1", true},
      {"false", false}, {"False", false}, {"no", false}, {"OFF", false}, {"0", false}};
  for (const auto& [text, want] : cases) {
    Config cfg;
    cfg.allow_privileged = !want;
    ASSERT_TRUE(Load(std::string("[api]\nallow_privileged = ") + text + "\n", cfg).ok()) << text;
    EXPECT_EQ(cfg.allow_privileged, want) << text;
  }
}

TEST(ConfigLoad, ListReplacesDefaultAndMayContinueOnIndentedLines) {
  Config cfg;
  Status st = Load("[DEFAULT]\nruntimes = runc,\n    kata ,\n\tcrun\ncontainer_runtime = crun\n", cfg);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(cfg.runtimes, (std::vector<std::string>{"runc", "kata", "crun"}));
  EXPECT_EQ(cfg.default_runtime, "crun");
  Config empty;
  ASSERT_TRUE(Load("[image]\ninsecure_registries =\n", empty).ok());
  EXPECT_TRUE(empty.insecure_registries.empty());
}

TEST(ConfigLoad, DatabaseConnectionForms) {
  const std::pair<const char*, const char*> cases[] = {
      {"/srv/zun/state.db", "/srv/zun/state.db"},
      {"sqlite:///srv/zun/state.db", "/srv/zun/state.db"},
      {"sqlite:////srv/zun/state.db", "/srv/zun/state.db"},
  };
  for (const auto& [value, path] : cases) {
    Config cfg;
    Status st = Load(std::string("[database]\nconnection = ") + value + "\n", cfg);
    ASSERT_TRUE(st.ok()) << value << ": " << st.ToString();
    EXPECT_EQ(cfg.DbPath(), path) << value;
  }
  Config cfg;
  cfg.state_dir = "/var/lib/x";
  EXPECT_EQ(cfg.DbPath(), "/var/lib/x/zunvm.sqlite");
}

TEST(ConfigLoad, HostNameFallsBackToTheMachine) {
  Config cfg;
  char buf[256] = {0};
  ASSERT_EQ(gethostname(buf, sizeof buf - 1), 0);
  EXPECT_EQ(cfg.HostName(), std::string(buf));
}

struct BadLoad {
  const char* text;
  const char* message;  // must appear in the error
};

void PrintTo(const BadLoad& b, std::ostream* os) { *os << ::testing::PrintToString(b.text); }

class ConfigLoadRejects : public ::testing::TestWithParam<BadLoad> {};

TEST_P(ConfigLoadRejects, WithAClearMessage) {
  Config cfg;
  cfg.port = 1234;  // must survive a failed load
  Status st = Load(GetParam().text, cfg);
  ASSERT_FALSE(st.ok()) << GetParam().text;
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(st.message(), GetParam().message)) << st.message();
  EXPECT_TRUE(Tie(cfg) == Tie([] {
                Config c;
                c.port = 1234;
                return c;
              }()))
      << "a failed load changed the config: " << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Types, ConfigLoadRejects,
    ::testing::Values(
        BadLoad{"[api]\nport = abc\n",
                "config line 2: invalid value \"abc\" for option [api] port: expected an integer"},
        BadLoad{"[api]\nport = 12abc\n", "invalid value \"12abc\" for option [api] port"},
        BadLoad{"[api]\nport =\n", "invalid value \"\" for option [api] port: expected an integer"},
        BadLoad{"[api]\nport = 1.0\n", "option [api] port: expected an integer"},
        BadLoad{"[api]\nthreads = 99999999999\n", "option [api] threads: expected an integer"},
        BadLoad{"[api]\nmax_body_bytes = 10GB\n", "option [api] max_body_bytes: expected an integer"},
        BadLoad{"[DEFAULT]\ndefault_memory = 1.5\n", "option [DEFAULT] default_memory"},
        BadLoad{"[DEFAULT]\ndebug = perhaps\n",
                "invalid value \"perhaps\" for option [DEFAULT] debug: expected a boolean"},
        BadLoad{"[api]\nallow_insecure_bind =\n", "option [api] allow_insecure_bind: expected a boolean"},
        BadLoad{"[DEFAULT]\ndefault_cpu = 1.5x\n",
                "invalid value \"1.5x\" for option [DEFAULT] default_cpu: expected a number"},
        BadLoad{"[DEFAULT]\nmaximum_cpus = nan\n", "option [DEFAULT] maximum_cpus: expected a number"},
        BadLoad{"[DEFAULT]\nmaximum_cpus = inf\n", "option [DEFAULT] maximum_cpus: expected a number"},
        BadLoad{"[database]\nconnection = mysql+pymysql://zun:pw@db/zun\n",
                "option [database] connection: expected a file path or sqlite:///path"},
        BadLoad{"[database]\nconnection = sqlite://\n", "option [database] connection"}));

INSTANTIATE_TEST_SUITE_P(
    Structure, ConfigLoadRejects,
    ::testing::Values(
        BadLoad{"[api]\nprot = 1\n", "config line 2: unknown option [api] prot"},
        BadLoad{"[api]\nthreads = 4\n[DEFAULT]\nport = 1\n", "line 4: unknown option [DEFAULT] port"},
        BadLoad{"[foo]\nx = 1\n", "config line 2: unknown section [foo]"},
        BadLoad{"[default]\ndebug = true\n", "unknown section [default]"},
        BadLoad{"[API]\nport = 1\n", "unknown section [API]"},
        BadLoad{"debug = true\n", "line 1: option debug appears before any [section] header"},
        BadLoad{"[api]\nport 9517\n", "config line 2: syntax error"},
        BadLoad{"# ok\n[api\nport = 1\n", "config line 2: syntax error"},
        BadLoad{"[api]\nport = 1\nport = 2\n", "line 3: option [api] port is set more than once"},
        BadLoad{"[api]\nport = 1\n[DEFAULT]\n[api]\nport = 2\n", "option [api] port is set more than once"},
        BadLoad{"[api]\nhost_ip = 127.0.0.1\n  port = 2\n",
                "line 3: option [api] host_ip: an indented line continues the previous option"},
        BadLoad{"[runtime:gpu]\ngpus = 1\n", "config line 2: unknown option [runtime:gpu] gpus"},
        BadLoad{"[runtime:gpu]\ntype = lxc\n", "invalid value \"lxc\" for option [runtime:gpu] type: expected vm or oci"},
        BadLoad{"[runtime:gpu]\nvcpus = many\n", "for option [runtime:gpu] vcpus: expected a number"},
        BadLoad{"[runtime:a b]\ntype = vm\n", "section [runtime:a b]: a runtime name is"},
        BadLoad{"[runtime:]\ntype = vm\n", "section [runtime:]: a runtime name is"},
        BadLoad{"[runtime:g]\ntype = vm\ntype = oci\n", "line 3: option [runtime:g] type is set more than once"},
        BadLoad{"[DEFAULT]\ndefault_runtime = kata\ncontainer_runtime = kata\n",
                "option [DEFAULT] default_runtime is set more than once"}));

// [runtime:<name>] sections: a new runtime, one replacing a built-in wholly, the older name of
// default_runtime; the built-ins stay when the file says nothing about them.
TEST(ConfigLoad, RuntimeSections) {
  Config cfg;
  EXPECT_EQ(cfg.runtimes, (std::vector<std::string>{"kata", "kata-debian", "runc", "crun"}));
  ASSERT_NE(cfg.FindRuntime("crun"), nullptr);
  EXPECT_EQ(cfg.FindRuntime("crun")->type, RuntimeType::kOci);
  EXPECT_EQ(cfg.FindRuntime("crun")->binary, "/usr/bin/crun");
  ASSERT_NE(cfg.FindRuntime("kata-debian"), nullptr);
  EXPECT_EQ(cfg.FindRuntime("kata-debian")->kernel, "guest-debian/vmlinux");
  Status st = Load(
      "[DEFAULT]\n"
      "runtimes = kata, gpu, runc\n"
      "container_runtime = gpu\n"
      "[runtime:gpu]\n"
      "type = vm\n"
      "kernel = /opt/guest/vmlinux\n"
      "initrd = /opt/guest/initramfs.cpio\n"
      "virt_type = kvm\n"
      "vcpus = 4\n"
      "memory_mib = 8192\n"
      "kernel_params = iommu=pt\n"
      "hostdev = 0000:3b:00.0, 0000:3b:00.1\n"
      "[runtime:kata]\n"
      "memory_mib = 256\n"
      "[runtime:runc]\n"
      "type = oci\n"
      "binary = /usr/bin/runc\n"
      "monitor = /usr/bin/conmon\n",
      cfg);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(ValidateConfig(cfg).ok()) << ValidateConfig(cfg).ToString();
  EXPECT_EQ(cfg.default_runtime, "gpu");
  const RuntimeProfile* gpu = cfg.FindRuntime("gpu");
  ASSERT_NE(gpu, nullptr);
  EXPECT_EQ(gpu->type, RuntimeType::kVm);
  EXPECT_EQ(gpu->kernel, "/opt/guest/vmlinux");
  EXPECT_DOUBLE_EQ(gpu->vcpus, 4);
  EXPECT_EQ(gpu->memory_mib, 8192);
  EXPECT_EQ(gpu->kernel_params, "iommu=pt");
  EXPECT_EQ(gpu->hostdev, (std::vector<std::string>{"0000:3b:00.0", "0000:3b:00.1"}));
  EXPECT_EQ(cfg.FindRuntime("kata")->memory_mib, 256);
  EXPECT_TRUE(cfg.FindRuntime("kata")->kernel.empty());
  EXPECT_EQ(cfg.FindRuntime("runc")->type, RuntimeType::kOci);
  EXPECT_EQ(cfg.FindRuntime("runc")->monitor, "/usr/bin/conmon");
  ASSERT_NE(cfg.FindRuntime("kata-debian"), nullptr);  // built in, though not offered here
  EXPECT_TRUE(ValidPciAddress("0000:00:1f.7"));
  EXPECT_FALSE(ValidPciAddress("0000:00:20.0"));  // slots are 5 bits
  EXPECT_FALSE(ValidPciAddress("0000:3B:00.0"));  // lower case, as sysfs names them
  EXPECT_FALSE(ValidPciAddress("0000:3b:00.8"));
}

TEST(ConfigLoad, OverlongLineIsRefusedNotTruncated) {
  Config cfg;
  std::string token(300, 't');
  Status st = Load("[api]\nauth_strategy = token\nauth_tokens = " + token + "\n", cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(Contains(st.message(), "config line 3: line longer than")) << st.message();
  EXPECT_TRUE(cfg.auth_tokens.empty());
  // Just under the limit is fine.
  std::string fits(198 - std::string("auth_tokens = ").size(), 't');
  st = Load("[api]\nauth_tokens = " + fits + "\n", cfg);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(cfg.auth_tokens, std::vector<std::string>{fits});
}

TEST(ConfigLoad, FileErrorsNameTheFile) {
  TempDir dir;
  Config cfg;
  Status st = LoadConfigFile(dir.path() + "/missing.conf", cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(),
            "cannot read config file " + dir.path() + "/missing.conf: No such file or directory");

  st = LoadConfigFile(dir.path(), cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "cannot read config file " + dir.path() + ": Is a directory");

  std::string bad = dir.path() + "/bad.conf";
  WriteFile(bad, "[api]\nport = 1\nthis is not ini\n");
  st = LoadConfigFile(bad, cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "config file " + bad + " line 3: syntax error");

  WriteFile(bad, "[api]\nprot = 1\n");
  st = LoadConfigFile(bad, cfg);
  EXPECT_EQ(st.message(), "config file " + bad + " line 2: unknown option [api] prot");

  std::string good = dir.path() + "/good.conf";
  WriteFile(good, "\xEF\xBB\xBF[api]\r\nport = 8080\r\n");  // BOM and CRLF tolerated
  st = LoadConfigFile(good, cfg);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(cfg.port, 8080);
}

// ---- Validation ------------------------------------------------------------------------------

class ConfigValidateRejects : public ::testing::TestWithParam<BadLoad> {};

TEST_P(ConfigValidateRejects, NamingTheOption) {
  Config cfg;
  Status st = Load(GetParam().text, cfg);
  ASSERT_TRUE(st.ok()) << "should load: " << st.ToString();
  st = ValidateConfig(cfg);
  ASSERT_FALSE(st.ok()) << GetParam().text;
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(st.message(), GetParam().message)) << st.message();
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConfigValidateRejects,
    ::testing::Values(
        BadLoad{"[api]\nport = 70000\n", "invalid option [api] port: must be 0..65535"},
        BadLoad{"[api]\nport = -1\n", "[api] port"},
        BadLoad{"[api]\nthreads = 1\n", "invalid option [api] threads: must be at least 2"},
        BadLoad{"[api]\nworkers = 0\n", "invalid option [api] workers"},
        BadLoad{"[DEFAULT]\nworkers = 0\n", "invalid option [DEFAULT] workers"},
        BadLoad{"[DEFAULT]\nlog_max_bytes = 100\n", "[DEFAULT] log_max_bytes"},
        BadLoad{"[DEFAULT]\nlog_backup_count = 0\n", "[DEFAULT] log_backup_count"},
        BadLoad{"[api]\nmax_limit = 0\n", "[api] max_limit"},
        BadLoad{"[api]\nmax_body_bytes = 1023\n", "[api] max_body_bytes"},
        BadLoad{"[api]\npublic_url = zun.example:9517\n", "[api] public_url"},
        BadLoad{"[DEFAULT]\nminimum_cpus = 2\n", "[DEFAULT] default_cpu"},
        BadLoad{"[DEFAULT]\ndefault_cpu = 32\n", "[DEFAULT] default_cpu"},
        BadLoad{"[DEFAULT]\nminimum_cpus = 0\n", "[DEFAULT] default_cpu"},
        BadLoad{"[DEFAULT]\nminimum_memory = 1024\n", "[DEFAULT] default_memory"},
        BadLoad{"[DEFAULT]\nmaximum_memory = 256\n", "[DEFAULT] default_memory"},
        BadLoad{"[DEFAULT]\ndefault_disk = 0\nminimum_disk = 0\n", "[DEFAULT] default_disk"},
        BadLoad{"[DEFAULT]\nmaximum_disk = 5\n", "[DEFAULT] default_disk"},
        BadLoad{"[api]\nauth_strategy = ldap\n", "[api] auth_strategy: must be noauth, token or keystone"},
        BadLoad{"[api]\nauth_strategy = keystone\n", "[keystone_authtoken] auth_url"},
        BadLoad{"[api]\nauth_strategy = keystone\n[keystone_authtoken]\nauth_url = http://k:5000/v3\n"
                "username = zun\nproject_name = service\n", "[keystone_authtoken] password"},
        BadLoad{"[api]\nauth_strategy = keystone\n[keystone_authtoken]\nauth_url = http://k:5000/v3\n"
                "username = zun\npassword = p\nproject_name = service\ntoken_cache_time = 9999\n",
                "[keystone_authtoken] token_cache_time"},
        BadLoad{"[api]\nauth_strategy = token\n", "[api] auth_tokens"},
        BadLoad{"[api]\nauth_strategy = token\nauth_tokens = , ,\n", "[api] auth_tokens"},
        BadLoad{"[api]\nhost_ip = nowhere\n", "[api] host_ip"},
        BadLoad{"[api]\nhost_ip = localhost\n", "[api] host_ip"},
        BadLoad{"[api]\nhost_ip = [::1]\n", "[api] host_ip"},
        BadLoad{"[api]\nssl_cert_file = /etc/hostname\n", "[api] ssl_key_file"},
        BadLoad{"[api]\nssl_key_file = /etc/hostname\n", "[api] ssl_cert_file"},
        BadLoad{"[api]\nssl_cert_file = /nonexistent/cert.pem\nssl_key_file = /nonexistent/k\n",
                "invalid option [api] ssl_cert_file: cannot read /nonexistent/cert.pem"},
        BadLoad{"[api]\nssl_cert_file = /\nssl_key_file = /\n", "not a regular file"},
        BadLoad{"[DEFAULT]\ncontainer_driver =\n", "[DEFAULT] container_driver"},
        BadLoad{"[libvirt]\nvirt_type = xen\n", "[libvirt] virt_type"},
        BadLoad{"[libvirt]\ncpu_overhead = -0.1\n", "[libvirt] cpu_overhead"},
        BadLoad{"[libvirt]\ntb_cache_mib = 4\n", "[libvirt] tb_cache_mib"},
        BadLoad{"[pool]\nsize = -1\n", "[pool] size"},
        BadLoad{"[pool]\ntemplate_dir = /dev/shm/a,share=on\n", "[pool] template_dir"},
        BadLoad{"[pool]\ntemplate_dir = relative\n", "[pool] template_dir"},
        BadLoad{"[DEFAULT]\nunique_container_name_scope = tenant\n", "[DEFAULT] unique_container_name_scope"},
        BadLoad{"[DEFAULT]\nruntimes =\n", "[DEFAULT] runtimes"},
        BadLoad{"[DEFAULT]\ncontainer_runtime = gvisor\n", "[DEFAULT] default_runtime"},
        BadLoad{"[DEFAULT]\nruntimes = kata, gpu\n", "[DEFAULT] runtimes"},
        BadLoad{"[runtime:gpu]\nhostdev = 0000:3b:00\n", "[runtime:gpu] hostdev"},
        BadLoad{"[runtime:gpu]\nmachine = microvm\n", "[runtime:gpu] machine"},
        BadLoad{"[runtime:gpu]\nkernel = /boot/vmlinuz\n", "[runtime:gpu] initrd"},
        BadLoad{"[runtime:gpu]\nvirt_type = xen\n", "[runtime:gpu] virt_type"},
        BadLoad{"[runtime:r]\ntype = oci\n", "[runtime:r] binary"},
        BadLoad{"[runtime:r]\ntype = oci\nbinary = /usr/bin/runc\nkernel = k\ninitrd = i\n", "[runtime:r] kernel"},
        BadLoad{"[runtime:kata]\nbinary = /usr/bin/runc\n", "[runtime:kata] binary"},
        BadLoad{"[DEFAULT]\nsync_container_state_interval = -1\n",
                "[DEFAULT] sync_container_state_interval"},
        BadLoad{"[DEFAULT]\nexecute_timeout = 0\n", "[DEFAULT] execute_timeout"},
        BadLoad{"[DEFAULT]\nstate_dir =\n", "[DEFAULT] state_dir"},
        BadLoad{"[guest]\nboot_timeout = 0\n", "[guest] boot_timeout"}));

TEST(ConfigLoad, GuestCmdlineExtra) {
  Config cfg;
  ASSERT_TRUE(Load("[guest]\nkernel_cmdline_extra = mitigations=off spectre_v2=off\n", cfg).ok());
  EXPECT_EQ(cfg.guest_cmdline_extra, "mitigations=off spectre_v2=off");
  EXPECT_TRUE(ValidateConfig(cfg).ok());
}

TEST(ConfigValidate, BoundaryValuesPass) {
  for (const char* text : {"[api]\nport = 65535\n", "[api]\nport = 0\n", "[api]\nthreads = 2\n",
                           "[api]\nmax_body_bytes = 1024\n",
                           "[DEFAULT]\nsync_container_state_interval = 0\n",
                           "[DEFAULT]\nminimum_cpus = 1\nmaximum_cpus = 1\n",
                           "[libvirt]\nvirt_type = qemu\n",
                           "[DEFAULT]\ncontainer_driver = libvirt\n",
                           "[api]\npublic_url = https://zun.example:9517\n"}) {
    Status st = LoadAndValidate(text);
    EXPECT_TRUE(st.ok()) << text << ": " << st.ToString();
  }
}

TEST(ConfigValidate, NoauthOnlyOnLoopback) {
  for (const char* ip : {"127.0.0.1", "127.3.2.1", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"}) {
    Status st = LoadAndValidate(std::string("[api]\nhost_ip = ") + ip + "\n");
    EXPECT_TRUE(st.ok()) << ip << ": " << st.ToString();
  }
  for (const char* ip : {"0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "::ffff:10.0.0.1", "::2"}) {
    Status st = LoadAndValidate(std::string("[api]\nhost_ip = ") + ip + "\n");
    ASSERT_FALSE(st.ok()) << ip;
    EXPECT_EQ(st.message(),
              std::string("refusing to serve without authentication on non-loopback address ") +
                  ip + ": set [api] auth_strategy = token or [api] allow_insecure_bind = true");
    // Either remedy named in the message works.
    st = LoadAndValidate(std::string("[api]\nhost_ip = ") + ip +
                         "\nauth_strategy = token\nauth_tokens = secret\n");
    EXPECT_TRUE(st.ok()) << ip << ": " << st.ToString();
    st = LoadAndValidate(std::string("[api]\nhost_ip = ") + ip + "\nallow_insecure_bind = true\n");
    EXPECT_TRUE(st.ok()) << ip << ": " << st.ToString();
  }
}

TEST(ConfigValidate, ConsolesOffLoopbackNeedTlsOrConsent) {
  Config defaults;
  EXPECT_EQ(defaults.ConsoleHost(), "127.0.0.1");
  EXPECT_EQ(defaults.ConsolePort(), 9518);  // the API's port + 1
  Status st = LoadAndValidate("[console]\nhost = 0.0.0.0\n");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("allow_insecure_bind"), std::string::npos) << st.message();
  EXPECT_TRUE(LoadAndValidate("[console]\nhost = 0.0.0.0\nallow_insecure_bind = true\n").ok());
  EXPECT_TRUE(LoadAndValidate("[console]\nhost = 0.0.0.0\nenabled = false\n").ok());
  EXPECT_FALSE(LoadAndValidate("[console]\nhost = localhost\n").ok());
  EXPECT_FALSE(LoadAndValidate("[console]\nticket_ttl = 0\n").ok());
  Config api0;
  ASSERT_TRUE(Load("[api]\nport = 0\n", api0).ok());
  EXPECT_EQ(api0.ConsolePort(), 0);
}

TEST(ConfigValidate, TlsWithReadableFiles) {
  TempDir dir;
  std::string cert = dir.path() + "/cert.pem", key = dir.path() + "/key.pem";
  WriteFile(cert, "cert");
  WriteFile(key, "key");
  Status st = LoadAndValidate("[api]\nssl_cert_file = " + cert + "\nssl_key_file = " + key + "\n");
  EXPECT_TRUE(st.ok()) << st.ToString();
  st = LoadAndValidate("[api]\nssl_cert_file = " + cert + "\nssl_key_file = " + key + ".gone\n");
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(Contains(st.message(), "[api] ssl_key_file: cannot read")) << st.message();
}

// ---- The option table and the sample ---------------------------------------------------------

TEST(ConfigOptions, TableIsUniqueAndCoversTheStruct) {
  auto opts = KnownConfigOptions();
  std::set<std::string> unique(opts.begin(), opts.end());
  EXPECT_EQ(unique.size(), opts.size());
  // One option per Config field (Tie lists every field) but runtime_profiles, whose options
  // are the [runtime:<name>] sections'.
  EXPECT_EQ(opts.size() + 1, std::tuple_size_v<decltype(Tie(Config{}))>);
  EXPECT_TRUE(unique.count("api.threads"));
  EXPECT_TRUE(unique.count("database.connection"));
}

// "section" -> the text of that section in the sample (header line excluded).
std::map<std::string, std::string> SampleSections(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line, current;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '[') {
      current = line.substr(1, line.find(']') - 1);
      continue;
    }
    if (!current.empty()) out[current] += line + "\n";
  }
  return out;
}

TEST(ConfigSample, ParsesAndValidates) {
  Config cfg;
  Status st = LoadConfigFile(SamplePath(), cfg);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(ValidateConfig(cfg).ok());
}

TEST(ConfigSample, DocumentsEveryOptionInItsSection) {
  std::string text = ReadAll(SamplePath());
  ASSERT_FALSE(text.empty()) << SamplePath();
  auto sections = SampleSections(text);
  for (const std::string& opt : KnownConfigOptions()) {
    std::string sec = opt.substr(0, opt.find('.')), key = opt.substr(opt.find('.') + 1);
    ASSERT_TRUE(sections.count(sec)) << "no [" << sec << "] in the sample";
    std::regex line("(^|\n)#?" + key + " =");
    EXPECT_TRUE(std::regex_search(sections[sec], line)) << opt << " is not in the sample";
  }
}

// The commented-out values are the real defaults and name only known options: uncommenting
// every "#key = value" line gives exactly the built-in configuration.
TEST(ConfigSample, CommentedValuesAreTheDefaults) {
  std::string text = ReadAll(SamplePath());
  std::string uncommented = std::regex_replace(text, std::regex("(^|\n)#([a-z_]+ =)"), "$1$2");
  ASSERT_NE(uncommented, text);
  Config cfg;
  cfg.port = 1;  // proves the sample sets it back
  Status st = LoadConfigText(uncommented, cfg);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(Tie(cfg) == Tie(Config{}));
  EXPECT_EQ(cfg.port, 9517);
}

}  // namespace
}  // namespace zunvm
