// zunvmd configuration: oslo-style INI (/etc/zun/zunvm.conf), every option with an embedded
// default, documented in etc/zun/zunvm.conf.sample (keep the two in step).
//
// Loading is strict: an unknown section or option, a value of the wrong type or out of range
// is an InvalidArgument naming "[section] option" so start-up fails with a clear message.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/runtime_config.h"
#include "common/status.h"

namespace zunvm {

struct Config {
  // [DEFAULT]
  bool debug = false;
  std::string state_dir = "/var/lib/zunvm";
  std::string host;                       // empty: the machine's hostname
  std::string container_driver = "libvirt";  // app/driver_factory.h knows the names
  // Runtimes (common/runtime_config.h, docs/runtimes.md): the one a container that names none
  // gets, and those containers may name; each has a [runtime:<name>] section, built in or here.
  std::string default_runtime = "kata";   // also read as the older name container_runtime
  std::vector<std::string> runtimes = {"kata", "kata-debian", "runc", "crun"};
  std::vector<RuntimeProfile> runtime_profiles = BuiltinRuntimes();
  const RuntimeProfile* FindRuntime(const std::string& name) const;
  RuntimeProfile* FindRuntime(const std::string& name);
  std::string default_availability_zone = "nova";
  // Zun's [compute] unique_container_name_scope: "project" (names unique, ignoring case, within
  // a project), "global", or "" (not unique: a name that several share is a 409 to look up).
  std::string unique_container_name_scope = "project";
  double default_cpu = 1.0;
  int64_t default_memory = 512;   // MiB
  int64_t default_disk = 10;      // GiB
  double minimum_cpus = 0.1;
  double maximum_cpus = 16;
  int64_t minimum_memory = 4;
  int64_t maximum_memory = 8192;
  int64_t minimum_disk = 1;
  int64_t maximum_disk = 160;
  int workers = 4;                         // service worker pool threads
  int sync_container_state_interval = 60;  // seconds; 0 disables the sync loop
  int execute_timeout = 60;                // seconds for a synchronous exec
  int64_t container_log_max_bytes = 64 * 1024 * 1024;  // per container log file
  std::string log_file;                    // empty: stderr (the journal under systemd)
  int64_t log_max_bytes = 64 * 1024 * 1024;  // log_file rotates at this size
  int log_backup_count = 5;                // rotated files kept: log_file.1 .. .N

  // [api]
  std::string host_ip = "127.0.0.1";
  int port = 9517;                  // 0: pick a free port (printed at start)
  int api_threads = 4;              // cpprestsdk I/O threads
  int api_workers = 8;              // threads that run request handlers
  int max_limit = 1000;
  int64_t max_body_bytes = 64 * 1024 * 1024;
  std::string auth_strategy = "noauth";   // noauth | token | keystone
  std::vector<std::string> auth_tokens;   // accepted X-Auth-Token values (token strategy)
  bool allow_insecure_bind = false;       // allow noauth on a non-loopback address
  std::string ssl_cert_file;              // both set: serve HTTPS
  std::string ssl_key_file;
  bool allow_privileged = false;          // policy container:create:privileged
  std::string public_url;                 // base of links; empty: from the request's Host

  // [metrics]: GET /metrics in Prometheus' text format, behind the API's auth (docs/operator.md).
  bool metrics_enabled = true;

  // [console]: the console listener (attach, interactive exec, Docker's exec API for Zun's
  // proxy); TLS with [api]'s certificate when it has one (docs/console.md).
  bool console_enabled = true;
  std::string console_host = "127.0.0.1";  // where Zun's proxy or clients reach consoles
  int console_port = -1;                  // 0: a free port; -1: [api] port + 1 (0 when that is 0)
  std::string console_base_url;           // the ws(s):// base clients reach; empty: host:port
  int console_ticket_ttl = 30;            // seconds a ticket or an unstarted exec stays valid
  int console_max_connections = 256;
  bool console_allow_insecure_bind = false;  // plain ws:// on a non-loopback address
  const std::string& ConsoleHost() const { return console_host; }
  int ConsolePort() const { return console_port >= 0 ? console_port : (port == 0 || port == 65535 ? 0 : port + 1); }

  // [volumes]: zunvmd's own volumes, <state_dir>/volumes/<uuid>.ext4 (docs/volumes.md).
  int64_t volume_default_size_gib = 1;    // a named volume made on first use
  int64_t volume_max_size_gib = 1024;     // `size=` and default_size_gib at most
  int64_t volume_max_inject_bytes = 1 << 20;  // `type=bind` file contents, all of a container's together
  int volume_max_mounts = 8;              // mounts of one container (volumes and files), at most 16

  // [keystone_authtoken] (auth_strategy = keystone): the service user zunvmd validates tokens
  // with, as keystonemiddleware's options of the same names.
  std::string ks_auth_url;                 // Keystone's identity endpoint, e.g. http://h:5000/v3
  std::string ks_username;
  std::string ks_password;
  std::string ks_project_name;
  std::string ks_user_domain_name = "Default";
  std::string ks_project_domain_name = "Default";
  std::string ks_cafile;                   // extra CA for an https Keystone
  int ks_token_cache_time = 300;           // seconds a validated token is trusted without asking

  // [database]
  std::string db_connection;              // SQLite file; empty: <state_dir>/zunvm.sqlite

  // [libvirt]
  std::string libvirt_uri = "qemu:///system";
  std::string virt_type = "kvm";          // kvm | qemu
  double cpu_overhead = 0.5;              // [libvirt] host CPU a VM may use beyond its container's cpu
  int tb_cache_mib = 40;                  // [libvirt] TCG translation cache, MiB (0: QEMU's default)

  // [pool] VMs of the default container's shape kept ready (templates and clones)
  int pool_size = 0;                      // 0: every create boots a VM
  bool pool_use_templates = true;         // false: members are cold-booted (no shared memory)
  std::string pool_template_dir = "/dev/shm/zunvm";  // tmpfs, reachable by the qemu user

  // [guest]
  std::string guest_kernel;               // empty: the image built into the build tree
  std::string guest_initrd;
  int guest_boot_timeout = 60;            // seconds to agent-ready
  std::string guest_cmdline_extra;        // appended to the guest kernel's command line

  // [image]
  std::string image_dir;                  // empty: <state_dir>/images
  std::vector<std::string> insecure_registries;
  std::vector<std::string> registry_credentials;  // "HOST=USER:PASSWORD"
  std::string registry_ca_file;                   // extra CA for https registries
  std::vector<std::string> registry_mirrors;      // "REGISTRY=MIRROR", tried first in order
  std::string ImageDir() const;                   // image_dir or <state_dir>/images

  // [network]
  std::string default_network = "zunvm";          // containers that ask for no network join it
  std::string default_subnet = "10.88.0.0/16";
  std::string subnet_pool = "10.89.0.0/16";       // networks made on demand take a /24 of it
  int network_mtu = 1500;
  std::string published_host_ip = "127.0.0.1";    // where exposed ports are published
  bool network_nat = false;                       // outbound NAT from the networks
  // The guests' /etc/resolv.conf nameservers; empty: the host's own, less loopback ones.
  std::vector<std::string> dns_nameservers;
  std::vector<std::string> dns_search;
  std::string ovs_bridge;                         // OpenStack mode: Neutron ports' OVS bridge

  std::string DbPath() const;
  std::string HostName() const;  // `host` or the machine's hostname
};

// Parses an INI file into `cfg` (starting from its current values). Strict, see above.
Status LoadConfigFile(const std::string& path, Config& cfg);
// Same, from text (for tests).
Status LoadConfigText(const std::string& text, Config& cfg);
// Cross-option checks (ranges, auth vs bind address, TLS files present). Names the option.
Status ValidateConfig(const Config& cfg);

}  // namespace zunvm

namespace zunvm {
// "section.key" of every option LoadConfigFile knows (the sample must document each); the
// options of runtime sections as "runtime:<name>.key" for each built-in runtime.
std::vector<std::string> KnownConfigOptions();
}  // namespace zunvm
