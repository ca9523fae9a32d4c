#include "common/config.h"

#include <arpa/inet.h>
#include <ini.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>

#include "common/strings.h"

namespace zunvm {

namespace {

using Setter = std::function<Status(Config&, const std::string& value, const std::string& name)>;

Status BadValue(const std::string& name, const std::string& value, const std::string& expected) {
  return Status::Invalid("invalid value \"" + value + "\" for option " + name + ": expected " +
                         expected);
}

Setter Str(std::string Config::*field) {
  return [field](Config& c, const std::string& v, const std::string&) {
    c.*field = v;
    return Status::Ok();
  };
}
Setter Int(int Config::*field) {
  return [field](Config& c, const std::string& v, const std::string& name) {
    auto n = ParseInt(Trim(v));
    if (!n || *n < INT32_MIN || *n > INT32_MAX) return BadValue(name, v, "an integer");
    c.*field = static_cast<int>(*n);
    return Status::Ok();
  };
}
Setter Int64(int64_t Config::*field) {
  return [field](Config& c, const std::string& v, const std::string& name) {
    auto n = ParseInt(Trim(v));
    if (!n) return BadValue(name, v, "an integer");
    c.*field = *n;
    return Status::Ok();
  };
}
Setter Float(double Config::*field) {
  return [field](Config& c, const std::string& v, const std::string& name) {
    auto d = ParseDouble(Trim(v));
    if (!d) return BadValue(name, v, "a number");
    c.*field = *d;
    return Status::Ok();
  };
}
Setter Bool(bool Config::*field) {
  return [field](Config& c, const std::string& v, const std::string& name) {
    auto b = ParseBoolExtended(v);
    if (!b) return BadValue(name, v, "a boolean (true/false)");
    c.*field = *b;
    return Status::Ok();
  };
}
Setter List(std::vector<std::string> Config::*field) {
  return [field](Config& c, const std::string& v, const std::string&) {
    std::vector<std::string> out;
    for (const auto& item : Split(v, ',')) {
      std::string t = Trim(item);
      if (!t.empty()) out.push_back(t);
    }
    c.*field = out;
    return Status::Ok();
  };
}

// The one table of options: "section.key" -> how to set it.
const std::map<std::string, Setter>& Options() {
  static const std::map<std::string, Setter> options = {
      {"DEFAULT.debug", Bool(&Config::debug)},
      {"DEFAULT.state_dir", Str(&Config::state_dir)},
      {"DEFAULT.host", Str(&Config::host)},
      {"DEFAULT.container_driver", Str(&Config::container_driver)},
      {"DEFAULT.container_runtime", Str(&Config::container_runtime)},
      {"DEFAULT.runtimes", List(&Config::runtimes)},
      {"DEFAULT.default_availability_zone", Str(&Config::default_availability_zone)},
      {"DEFAULT.default_cpu", Float(&Config::default_cpu)},
      {"DEFAULT.default_memory", Int64(&Config::default_memory)},
      {"DEFAULT.default_disk", Int64(&Config::default_disk)},
      {"DEFAULT.minimum_cpus", Float(&Config::minimum_cpus)},
      {"DEFAULT.maximum_cpus", Float(&Config::maximum_cpus)},
      {"DEFAULT.minimum_memory", Int64(&Config::minimum_memory)},
      {"DEFAULT.maximum_memory", Int64(&Config::maximum_memory)},
      {"DEFAULT.minimum_disk", Int64(&Config::minimum_disk)},
      {"DEFAULT.maximum_disk", Int64(&Config::maximum_disk)},
      {"DEFAULT.workers", Int(&Config::workers)},
      {"DEFAULT.sync_container_state_interval", Int(&Config::sync_container_state_interval)},
      {"DEFAULT.execute_timeout", Int(&Config::execute_timeout)},
      {"DEFAULT.container_log_max_bytes", Int64(&Config::container_log_max_bytes)},
      {"api.host_ip", Str(&Config::host_ip)},
      {"api.port", Int(&Config::port)},
      {"api.threads", Int(&Config::api_threads)},
      {"api.workers", Int(&Config::api_workers)},
      {"api.max_limit", Int(&Config::max_limit)},
      {"api.max_body_bytes", Int64(&Config::max_body_bytes)},
      {"api.auth_strategy", Str(&Config::auth_strategy)},
      {"api.auth_tokens", List(&Config::auth_tokens)},
      {"api.allow_insecure_bind", Bool(&Config::allow_insecure_bind)},
      {"api.ssl_cert_file", Str(&Config::ssl_cert_file)},
      {"api.ssl_key_file", Str(&Config::ssl_key_file)},
      {"api.allow_privileged", Bool(&Config::allow_privileged)},
      {"api.public_url", Str(&Config::public_url)},
      {"database.connection",
       [](Config& c, const std::string& v, const std::string&) {
         std::string path = Trim(v);
         if (StartsWith(path, "sqlite:///")) path = path.substr(10);  // sqlite:////abs, sqlite:///rel
         c.db_connection = path;
         return Status::Ok();
       }},
      {"libvirt.uri", Str(&Config::libvirt_uri)},
      {"libvirt.virt_type", Str(&Config::virt_type)},
      {"guest.kernel", Str(&Config::guest_kernel)},
      {"guest.initrd", Str(&Config::guest_initrd)},
      {"guest.boot_timeout", Int(&Config::guest_boot_timeout)},
      {"image.image_dir", Str(&Config::image_dir)},
      {"image.insecure_registries", List(&Config::insecure_registries)},
  };
  return options;
}

struct ParseState {
  Config* cfg;
  Status status;
};

int OnEntry(void* user, const char* section, const char* name, const char* value) {
  auto* st = static_cast<ParseState*>(user);
  if (!st->status.ok()) return 1;
  std::string sec = section, key = name;
  bool known_section = sec == "DEFAULT" || sec == "api" || sec == "database" ||
                       sec == "libvirt" || sec == "guest" || sec == "image";
  if (!known_section) {
    st->status = Status::Invalid("unknown section [" + sec + "]");
    return 1;
  }
  auto it = Options().find(sec + "." + key);
  if (it == Options().end()) {
    st->status = Status::Invalid("unknown option [" + sec + "] " + key);
    return 1;
  }
  st->status = it->second(*st->cfg, value ? value : "", "[" + sec + "] " + key);
  return 1;
}

Status Parse(const std::function<int(ini_handler, void*)>& run, const std::string& where,
             Config& cfg) {
  Config copy = cfg;
  ParseState st{&copy, Status::Ok()};
  int line = run(OnEntry, &st);
  if (!st.status.ok()) return Status::Invalid(where + ": " + st.status.message());
  if (line > 0) return Status::Invalid(where + " line " + std::to_string(line) + ": syntax error");
  if (line < 0) return Status::Invalid("cannot read " + where);
  cfg = copy;
  return Status::Ok();
}

bool IsLoopback(const std::string& ip) {
  in_addr a4{};
  if (inet_pton(AF_INET, ip.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  return ip == "::1";
}

bool Readable(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

}  // namespace

std::vector<std::string> KnownConfigOptions() {
  std::vector<std::string> out;
  for (const auto& [name, setter] : Options()) out.push_back(name);
  return out;
}

Status LoadConfigFile(const std::string& path, Config& cfg) {
  std::ifstream probe(path);
  if (!probe) {
    return Status::Invalid("cannot read config file " + path + ": " + std::strerror(errno));
  }
  return Parse([&](ini_handler h, void* u) { return ini_parse(path.c_str(), h, u); },
               "config file " + path, cfg);
}

Status LoadConfigText(const std::string& text, Config& cfg) {
  return Parse([&](ini_handler h, void* u) { return ini_parse_string(text.c_str(), h, u); },
               "config", cfg);
}

Status ValidateConfig(const Config& c) {
  auto bad = [](const std::string& name, const std::string& why) {
    return Status::Invalid("invalid option " + name + ": " + why);
  };
  if (c.port < 0 || c.port > 65535) return bad("[api] port", "must be 0..65535");
  if (c.api_threads < 2) return bad("[api] threads", "must be at least 2 (cpprestsdk hangs with 1)");
  if (c.api_workers < 1) return bad("[api] workers", "must be at least 1");
  if (c.workers < 1) return bad("[DEFAULT] workers", "must be at least 1");
  if (c.max_limit < 1) return bad("[api] max_limit", "must be at least 1");
  if (c.max_body_bytes < 1024) return bad("[api] max_body_bytes", "must be at least 1024");
  if (c.state_dir.empty()) return bad("[DEFAULT] state_dir", "must not be empty");
  if (!(c.minimum_cpus > 0 && c.minimum_cpus <= c.default_cpu && c.default_cpu <= c.maximum_cpus)) {
    return bad("[DEFAULT] default_cpu", "need 0 < minimum_cpus <= default_cpu <= maximum_cpus");
  }
  if (!(c.minimum_memory > 0 && c.minimum_memory <= c.default_memory &&
        c.default_memory <= c.maximum_memory)) {
    return bad("[DEFAULT] default_memory",
               "need 0 < minimum_memory <= default_memory <= maximum_memory");
  }
  if (!(c.minimum_disk > 0 && c.minimum_disk <= c.default_disk && c.default_disk <= c.maximum_disk)) {
    return bad("[DEFAULT] default_disk", "need 0 < minimum_disk <= default_disk <= maximum_disk");
  }
  if (c.auth_strategy != "noauth" && c.auth_strategy != "token") {
    return bad("[api] auth_strategy", "must be noauth or token");
  }
  if (c.auth_strategy == "token") {
    bool any = false;
    for (const auto& t : c.auth_tokens) any |= !t.empty();
    if (!any) return bad("[api] auth_tokens", "the token strategy needs at least one token");
  }
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, c.host_ip.c_str(), &a4) != 1 &&
      inet_pton(AF_INET6, c.host_ip.c_str(), &a6) != 1) {
    return bad("[api] host_ip", "\"" + c.host_ip + "\" is not an IP address");
  }
  if (c.auth_strategy == "noauth" && !IsLoopback(c.host_ip) && !c.allow_insecure_bind) {
    return Status::Invalid("refusing to serve without authentication on non-loopback address " +
                           c.host_ip +
                           ": set [api] auth_strategy = token or [api] allow_insecure_bind = true");
  }
  if (c.ssl_cert_file.empty() != c.ssl_key_file.empty()) {
    return bad("[api] ssl_cert_file", "ssl_cert_file and ssl_key_file must be set together");
  }
  if (!c.ssl_cert_file.empty() && !Readable(c.ssl_cert_file)) {
    return bad("[api] ssl_cert_file", "cannot read " + c.ssl_cert_file);
  }
  if (!c.ssl_key_file.empty() && !Readable(c.ssl_key_file)) {
    return bad("[api] ssl_key_file", "cannot read " + c.ssl_key_file);
  }
  if (c.container_driver != "fake" && c.container_driver != "libvirt") {
    return bad("[DEFAULT] container_driver", "must be fake or libvirt");
  }
  if (c.virt_type != "kvm" && c.virt_type != "qemu") {
    return bad("[libvirt] virt_type", "must be kvm or qemu");
  }
  if (c.runtimes.empty()) return bad("[DEFAULT] runtimes", "must not be empty");
  bool listed = false;
  for (const auto& r : c.runtimes) listed |= r == c.container_runtime;
  if (!listed) return bad("[DEFAULT] container_runtime", "must be one of [DEFAULT] runtimes");
  if (c.sync_container_state_interval < 0) {
    return bad("[DEFAULT] sync_container_state_interval", "must be >= 0");
  }
  if (c.execute_timeout < 1) return bad("[DEFAULT] execute_timeout", "must be >= 1");
  if (c.container_log_max_bytes < 4096) {
    return bad("[DEFAULT] container_log_max_bytes", "must be at least 4096");
  }
  if (c.guest_boot_timeout < 1) return bad("[guest] boot_timeout", "must be >= 1");
  return Status::Ok();
}

std::string Config::DbPath() const {
  return db_connection.empty() ? state_dir + "/zunvm.sqlite" : db_connection;
}

std::string Config::HostName() const {
  if (!host.empty()) return host;
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace zunvm
