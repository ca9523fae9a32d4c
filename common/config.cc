#include "common/config.h"

#include "common/ids.h"
#include "common/ipv4.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ini.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <algorithm>
#include <cstring>
#include <utility>
#include <set>
#include <string_view>
#include <variant>

#include "common/strings.h"

namespace zunvm {

namespace {

// ---- The option table ----------------------------------------------------------------------

// Options whose value needs more than a type conversion. Returns InvalidArgument with the
// "expected ..." text only; the caller adds the option name.
using CustomSetter = Status (*)(const std::string& value, Config& cfg);

// Where a value goes; the alternative also decides how the text is parsed.
using Target = std::variant<bool Config::*, int Config::*, int64_t Config::*, double Config::*,
                            std::string Config::*, std::vector<std::string> Config::*,
                            CustomSetter>;

struct OptionDesc {
  const char* section;
  const char* key;
  Target target;
};

Status SetDbConnection(const std::string& value, Config& cfg);

// The one table: every option LoadConfig* accepts. etc/zun/zunvm.conf.sample documents each
// (tests/unit/config_test.cc checks that).
constexpr const char* kDefault = "DEFAULT";
const OptionDesc kOptions[] = {
    {kDefault, "debug", &Config::debug},
    {kDefault, "state_dir", &Config::state_dir},
    {kDefault, "host", &Config::host},
    {kDefault, "container_driver", &Config::container_driver},
    {kDefault, "default_runtime", &Config::default_runtime},
    {kDefault, "runtimes", &Config::runtimes},
    {kDefault, "default_availability_zone", &Config::default_availability_zone},
    {kDefault, "unique_container_name_scope", &Config::unique_container_name_scope},
    {kDefault, "default_cpu", &Config::default_cpu},
    {kDefault, "default_memory", &Config::default_memory},
    {kDefault, "default_disk", &Config::default_disk},
    {kDefault, "minimum_cpus", &Config::minimum_cpus},
    {kDefault, "maximum_cpus", &Config::maximum_cpus},
    {kDefault, "minimum_memory", &Config::minimum_memory},
    {kDefault, "maximum_memory", &Config::maximum_memory},
    {kDefault, "minimum_disk", &Config::minimum_disk},
    {kDefault, "maximum_disk", &Config::maximum_disk},
    {kDefault, "workers", &Config::workers},
    {kDefault, "sync_container_state_interval", &Config::sync_container_state_interval},
    {kDefault, "execute_timeout", &Config::execute_timeout},
    {kDefault, "container_log_max_bytes", &Config::container_log_max_bytes},
    {kDefault, "log_file", &Config::log_file},
    {kDefault, "log_max_bytes", &Config::log_max_bytes},
    {kDefault, "log_backup_count", &Config::log_backup_count},
    {"api", "host_ip", &Config::host_ip},
    {"api", "port", &Config::port},
    {"api", "threads", &Config::api_threads},
    {"api", "workers", &Config::api_workers},
    {"api", "max_limit", &Config::max_limit},
    {"api", "max_body_bytes", &Config::max_body_bytes},
    {"api", "auth_strategy", &Config::auth_strategy},
    {"api", "auth_tokens", &Config::auth_tokens},
    {"api", "allow_insecure_bind", &Config::allow_insecure_bind},
    {"api", "ssl_cert_file", &Config::ssl_cert_file},
    {"api", "ssl_key_file", &Config::ssl_key_file},
    {"api", "allow_privileged", &Config::allow_privileged},
    {"api", "public_url", &Config::public_url},
    {"console", "enabled", &Config::console_enabled},
    {"metrics", "enabled", &Config::metrics_enabled},
    {"console", "host", &Config::console_host},
    {"console", "port", &Config::console_port},
    {"console", "base_url", &Config::console_base_url},
    {"console", "ticket_ttl", &Config::console_ticket_ttl},
    {"console", "max_connections", &Config::console_max_connections},
    {"console", "allow_insecure_bind", &Config::console_allow_insecure_bind},
    {"volumes", "default_size_gib", &Config::volume_default_size_gib},
    {"volumes", "max_size_gib", &Config::volume_max_size_gib},
    {"volumes", "max_inject_bytes", &Config::volume_max_inject_bytes},
    {"volumes", "max_mounts", &Config::volume_max_mounts},
    {"keystone_authtoken", "auth_url", &Config::ks_auth_url},
    {"keystone_authtoken", "username", &Config::ks_username},
    {"keystone_authtoken", "password", &Config::ks_password},
    {"keystone_authtoken", "project_name", &Config::ks_project_name},
    {"keystone_authtoken", "user_domain_name", &Config::ks_user_domain_name},
    {"keystone_authtoken", "project_domain_name", &Config::ks_project_domain_name},
    {"keystone_authtoken", "cafile", &Config::ks_cafile},
    {"keystone_authtoken", "token_cache_time", &Config::ks_token_cache_time},
    {"database", "connection", &SetDbConnection},
    {"libvirt", "uri", &Config::libvirt_uri},
    {"libvirt", "virt_type", &Config::virt_type},
    {"libvirt", "cpu_overhead", &Config::cpu_overhead},
    {"libvirt", "tb_cache_mib", &Config::tb_cache_mib},
    {"pool", "size", &Config::pool_size},
    {"pool", "use_templates", &Config::pool_use_templates},
    {"pool", "template_dir", &Config::pool_template_dir},
    {"guest", "kernel", &Config::guest_kernel},
    {"guest", "initrd", &Config::guest_initrd},
    {"guest", "boot_timeout", &Config::guest_boot_timeout},
    {"guest", "kernel_cmdline_extra", &Config::guest_cmdline_extra},
    {"image", "image_dir", &Config::image_dir},
    {"image", "insecure_registries", &Config::insecure_registries},
    {"image", "registry_credentials", &Config::registry_credentials},
    {"image", "registry_ca_file", &Config::registry_ca_file},
    {"image", "registry_mirrors", &Config::registry_mirrors},
    {"network", "default_network", &Config::default_network},
    {"network", "default_subnet", &Config::default_subnet},
    {"network", "subnet_pool", &Config::subnet_pool},
    {"network", "mtu", &Config::network_mtu},
    {"network", "published_host_ip", &Config::published_host_ip},
    {"network", "nat", &Config::network_nat},
    {"network", "dns_nameservers", &Config::dns_nameservers},
    {"network", "dns_search", &Config::dns_search},
    {"network", "ovs_bridge", &Config::ovs_bridge},
};

const OptionDesc* FindOption(std::string_view section, std::string_view key) {
  for (const auto& o : kOptions) {
    if (section == o.section && key == o.key) return &o;
  }
  return nullptr;
}

bool IsKnownSection(std::string_view section) {
  for (const auto& o : kOptions) {
    if (section == o.section) return true;
  }
  return false;
}

// ---- Value conversion ----------------------------------------------------------------------

Status Expected(const std::string& what) { return Status::Invalid("expected " + what); }

std::vector<std::string> SplitList(const std::string& v) {
  std::vector<std::string> out;
  for (const auto& item : Split(v, ',')) {
    std::string t = Trim(item);
    if (!t.empty()) out.push_back(std::move(t));
  }
  return out;
}

// "sqlite:///abs/path" and SQLAlchemy's "sqlite:////abs/path" both name /abs/path (a daemon has
// no meaningful working directory, so relative sqlite URLs are not offered); a value without a
// scheme is the path itself. Other databases are refused rather than taken for a file name.
Status SetDbConnection(const std::string& value, Config& cfg) {
  constexpr std::string_view kScheme = "sqlite://";
  if (value.find("://") == std::string::npos) {
    cfg.db_connection = value;
    return Status::Ok();
  }
  if (!StartsWith(value, kScheme)) {
    return Expected("a file path or sqlite:///path (zunvm stores its state in SQLite)");
  }
  std::string path = value.substr(kScheme.size());
  size_t first = path.find_first_not_of('/');
  if (path.empty() || path[0] != '/' || first == std::string::npos) {
    return Expected("a file path or sqlite:///path");
  }
  path.erase(0, first - 1);  // keep exactly one leading '/'
  cfg.db_connection = path;
  return Status::Ok();
}

// Sets `value` into the target. `continuation`: the value is an indented line continuing the
// previous line of the same option (only lists accept that; their items are appended).
Status Apply(const Target& target, const std::string& value, bool continuation, Config& cfg) {
  if (auto* list = std::get_if<std::vector<std::string> Config::*>(&target)) {
    auto items = SplitList(value);
    auto& field = cfg.**list;
    if (!continuation) field.clear();
    field.insert(field.end(), items.begin(), items.end());
    return Status::Ok();
  }
  if (continuation) {
    return Status::Invalid(
        "an indented line continues the previous option (only comma lists may span lines; "
        "start options at the beginning of the line)");
  }
  if (auto* b = std::get_if<bool Config::*>(&target)) {
    auto parsed = ParseBoolExtended(value);
    if (!parsed) return Expected("a boolean (true/false, yes/no, on/off, 1/0)");
    cfg.**b = *parsed;
  } else if (auto* i = std::get_if<int Config::*>(&target)) {
    auto parsed = ParseInt(value);
    if (!parsed) return Expected("an integer");
    if (*parsed < INT_MIN || *parsed > INT_MAX) return Expected("an integer of at most 32 bits");
    cfg.**i = static_cast<int>(*parsed);
  } else if (auto* l = std::get_if<int64_t Config::*>(&target)) {
    auto parsed = ParseInt(value);
    if (!parsed) return Expected("an integer");
    cfg.**l = *parsed;
  } else if (auto* d = std::get_if<double Config::*>(&target)) {
    auto parsed = ParseDouble(value);  // rejects nan and inf
    if (!parsed) return Expected("a number");
    cfg.**d = *parsed;
  } else if (auto* s = std::get_if<std::string Config::*>(&target)) {
    cfg.**s = value;
  } else {
    return std::get<CustomSetter>(target)(value, cfg);
  }
  return Status::Ok();
}

// ---- Parsing with inih ---------------------------------------------------------------------

// inih is fed through ini_parse_stream with this reader so that every error can carry its line
// number, and so that a line longer than inih's buffer is refused instead of being split into
// a truncated value and a bogus next line.
struct ParseState {
  std::string_view text;
  size_t pos = 0;
  int line_no = 0;
  bool line_indented = false;  // the current line starts with blank space
  Config* cfg = nullptr;
  std::set<std::string> seen;  // "section.key" already set
  Status error;                // first error; its line is in error_line
  int error_line = 0;
};

void Fail(ParseState& st, Status s) {
  if (!st.error.ok()) return;
  st.error = std::move(s);
  st.error_line = st.line_no;
}

char* ReadLine(char* buf, int size, void* stream) {
  auto& st = *static_cast<ParseState*>(stream);
  if (st.pos >= st.text.size() || !st.error.ok()) return nullptr;
  size_t eol = st.text.find('\n', st.pos);
  size_t end = eol == std::string_view::npos ? st.text.size() : eol + 1;
  std::string_view line = st.text.substr(st.pos, end - st.pos);
  st.pos = end;
  ++st.line_no;
  if (line.size() >= static_cast<size_t>(size)) {
    Fail(st, Status::Invalid("line longer than " + std::to_string(size - 2) +
                             " characters (split a list over indented lines)"));
    return nullptr;
  }
  if (line.find('\0') != std::string_view::npos) {
    Fail(st, Status::Invalid("NUL byte in line"));
    return nullptr;
  }
  st.line_indented = !line.empty() && (line[0] == ' ' || line[0] == '\t');
  std::memcpy(buf, line.data(), line.size());
  buf[line.size()] = '\0';
  return buf;
}

// [runtime:<name>]: the first option of a section starts its profile afresh (replacing a
// built-in one of that name); the profile is validated with the whole configuration.
constexpr std::string_view kRuntimeSection = "runtime:";

int OnRuntimeEntry(ParseState& st, const std::string& sec, const std::string& key, const std::string& value) {
  std::string name = sec.substr(kRuntimeSection.size());
  std::string label = "[" + sec + "] " + key;
  if (!ValidRuntimeName(name)) {
    Fail(st, Status::Invalid("section [" + sec + "]: a runtime name is 1..64 of [A-Za-z0-9._-]"));
    return 1;
  }
  if (st.seen.insert(sec).second) {
    auto& profiles = st.cfg->runtime_profiles;
    profiles.erase(std::remove_if(profiles.begin(), profiles.end(), [&](const RuntimeProfile& p) { return p.name == name; }),
                   profiles.end());
    profiles.push_back(RuntimeProfile{});
    profiles.back().name = name;
  }
  if (st.line_indented) {
    Fail(st, Status::Invalid("option " + label + ": an indented line continues the previous option (not in runtime sections)"));
    return 1;
  }
  if (!st.seen.insert(sec + "." + key).second) {
    Fail(st, Status::Invalid("option " + label + " is set more than once"));
    return 1;
  }
  Status s = SetRuntimeOption(*st.cfg->FindRuntime(name), key, value);
  if (!s.ok()) {
    std::string why = s.message();
    Fail(st, Status::Invalid(StartsWith(why, "expected ") ? "invalid value \"" + value + "\" for option " + label + ": " + why
                                                          : why + " " + label));
  }
  return 1;
}

int OnEntry(void* user, const char* section, const char* name, const char* value) {
  auto& st = *static_cast<ParseState*>(user);
  if (!st.error.ok()) return 1;
  std::string sec = section, key = name;
  if (sec.empty()) {
    Fail(st, Status::Invalid("option " + key + " appears before any [section] header"));
    return 1;
  }
  if (StartsWith(sec, kRuntimeSection)) return OnRuntimeEntry(st, sec, key, value ? value : "");
  if (sec == kDefault && key == "container_runtime") key = "default_runtime";  // its older name
  if (!IsKnownSection(sec)) {
    Fail(st, Status::Invalid("unknown section [" + sec + "]"));
    return 1;
  }
  const OptionDesc* opt = FindOption(sec, key);
  std::string label = "[" + sec + "] " + key;
  if (opt == nullptr) {
    Fail(st, Status::Invalid("unknown option " + label));
    return 1;
  }
  // inih reports an indented line after an option as another value of that option.
  bool continuation = st.line_indented && st.seen.count(sec + "." + key) > 0;
  if (!continuation && !st.seen.insert(sec + "." + key).second) {
    Fail(st, Status::Invalid("option " + label + " is set more than once"));
    return 1;
  }
  std::string v = value ? value : "";
  Status s = Apply(opt->target, v, continuation, *st.cfg);
  if (!s.ok()) {
    std::string why = s.message();
    Fail(st, Status::Invalid(StartsWith(why, "expected ")
                                 ? "invalid value \"" + v + "\" for option " + label + ": " + why
                                 : "option " + label + ": " + why));
  }
  return 1;
}

// `where` names the source in messages ("config file /etc/zun/zunvm.conf", "config").
// `cfg` is changed only when the whole text is valid.
Status ParseText(std::string_view text, const std::string& where, Config& cfg) {
  Config copy = cfg;
  ParseState st;
  st.text = text;
  st.cfg = &copy;
  int syntax_line = ini_parse_stream(&ReadLine, &st, &OnEntry, &st);
  auto at = [&](int line) { return where + " line " + std::to_string(line) + ": "; };
  if (syntax_line > 0 && (st.error.ok() || syntax_line < st.error_line)) {
    return Status::Invalid(at(syntax_line) + "syntax error");
  }
  if (!st.error.ok()) return Status::Invalid(at(st.error_line) + st.error.message());
  if (syntax_line < 0) return Status::Internal(where + ": the INI parser ran out of memory");
  cfg = std::move(copy);
  return Status::Ok();
}

// Whole file into `out`; errno-style reason on failure. Refuses files over 1 MiB (a config
// pointed at a device or a log by mistake).
Status ReadWholeFile(const std::string& path, std::string& out) {
  constexpr size_t kMaxBytes = 1 << 20;
  auto fail = [&](int err) {
    return Status::Invalid("cannot read config file " + path + ": " + std::strerror(err));
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errno);
  out.clear();
  char buf[8192];
  Status result = Status::Ok();
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result = fail(errno);
      break;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxBytes) {
      result = Status::Invalid("cannot read config file " + path + ": larger than 1 MiB");
      break;
    }
  }
  ::close(fd);
  return result;
}

// ---- Validation helpers ----------------------------------------------------------------------

Status Bad(const std::string& label, const std::string& why) {
  return Status::Invalid("invalid option " + label + ": " + why);
}

// 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. False for anything that is not an address.
bool IsLoopback(const std::string& ip) {
  in_addr a4{};
  if (inet_pton(AF_INET, ip.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  if (inet_pton(AF_INET6, ip.c_str(), &a6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&a6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

bool IsIpAddress(const std::string& ip) {
  in_addr a4{};
  in6_addr a6{};
  return inet_pton(AF_INET, ip.c_str(), &a4) == 1 || inet_pton(AF_INET6, ip.c_str(), &a6) == 1;
}

// Empty when `path` is a readable regular file, else the reason.
std::string UnreadableReason(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::strerror(errno);
  struct stat sb{};
  std::string why;
  if (::fstat(fd, &sb) != 0) {
    why = std::strerror(errno);
  } else if (!S_ISREG(sb.st_mode)) {
    why = "not a regular file";
  }
  ::close(fd);
  return why;
}

template <typename T>
Status CheckRange(const char* what, T minimum, T def, T maximum) {
  if (minimum > 0 && minimum <= def && def <= maximum) return Status::Ok();
  std::string w = what;
  return Bad("[DEFAULT] default_" + w, "need 0 < minimum_" + w + " <= default_" + w +
                                           " <= maximum_" + w);
}

Status ValidateResources(const Config& c) {
  // Config names the cpu bounds minimum_cpus/maximum_cpus but the default default_cpu.
  if (!(c.minimum_cpus > 0 && c.minimum_cpus <= c.default_cpu && c.default_cpu <= c.maximum_cpus)) {
    return Bad("[DEFAULT] default_cpu", "need 0 < minimum_cpus <= default_cpu <= maximum_cpus");
  }
  ZUNVM_RETURN_IF_ERROR(
      CheckRange("memory", c.minimum_memory, c.default_memory, c.maximum_memory));
  return CheckRange("disk", c.minimum_disk, c.default_disk, c.maximum_disk);
}

Status ValidateDefaultSection(const Config& c) {
  if (c.state_dir.empty()) return Bad("[DEFAULT] state_dir", "must not be empty");
  if (c.container_driver.empty()) {  // which names are available is the driver factory's
    return Bad("[DEFAULT] container_driver", "must name a driver (libvirt)");
  }
  if (c.runtimes.empty()) return Bad("[DEFAULT] runtimes", "must list at least one runtime");
  bool listed = false;
  for (const auto& r : c.runtimes) {
    listed |= r == c.default_runtime;
    if (c.FindRuntime(r) == nullptr) {
      return Bad("[DEFAULT] runtimes", "\"" + r + "\" has no [runtime:" + r + "] section (built in: kata, kata-debian)");
    }
  }
  if (!listed) {
    return Bad("[DEFAULT] default_runtime",
               "\"" + c.default_runtime + "\" is not one of [DEFAULT] runtimes (" +
                   Join(c.runtimes, ", ") + ")");
  }
  for (const auto& p : c.runtime_profiles) ZUNVM_RETURN_IF_ERROR(ValidateRuntimeProfile(p));
  const std::string& scope = c.unique_container_name_scope;
  if (!scope.empty() && scope != "project" && scope != "global") {
    return Bad("[DEFAULT] unique_container_name_scope", "must be project, global or empty");
  }
  if (c.workers < 1) return Bad("[DEFAULT] workers", "must be at least 1");
  if (c.sync_container_state_interval < 0) {
    return Bad("[DEFAULT] sync_container_state_interval", "must be >= 0 (0 disables)");
  }
  if (c.execute_timeout < 1) return Bad("[DEFAULT] execute_timeout", "must be at least 1");
  if (c.container_log_max_bytes < 4096) {
    return Bad("[DEFAULT] container_log_max_bytes", "must be at least 4096");
  }
  if (c.log_max_bytes < 4096) return Bad("[DEFAULT] log_max_bytes", "must be at least 4096");
  if (c.log_backup_count < 1 || c.log_backup_count > 100) {
    return Bad("[DEFAULT] log_backup_count", "must be between 1 and 100");
  }
  return ValidateResources(c);
}

Status ValidateAuthAndBind(const Config& c) {
  if (c.auth_strategy != "noauth" && c.auth_strategy != "token" && c.auth_strategy != "keystone") {
    return Bad("[api] auth_strategy", "must be noauth, token or keystone");
  }
  if (c.auth_strategy == "keystone") {
    if (c.ks_auth_url.rfind("http://", 0) != 0 && c.ks_auth_url.rfind("https://", 0) != 0) {
      return Bad("[keystone_authtoken] auth_url", "auth_strategy = keystone needs Keystone's http(s) URL");
    }
    for (const auto& [name, value] : {std::pair<const char*, const std::string&>{"username", c.ks_username},
                                      {"password", c.ks_password},
                                      {"project_name", c.ks_project_name},
                                      {"user_domain_name", c.ks_user_domain_name},
                                      {"project_domain_name", c.ks_project_domain_name}}) {
      if (value.empty()) return Bad(std::string("[keystone_authtoken] ") + name, "auth_strategy = keystone needs it");
    }
    if (c.ks_token_cache_time < 0 || c.ks_token_cache_time > 3600) {
      return Bad("[keystone_authtoken] token_cache_time", "must be between 0 and 3600 seconds");
    }
  }
  if (c.auth_strategy == "token") {
    bool any = false;
    for (const auto& t : c.auth_tokens) any |= !t.empty();
    if (!any) return Bad("[api] auth_tokens", "auth_strategy = token needs at least one token");
  }
  if (!IsIpAddress(c.host_ip)) {
    return Bad("[api] host_ip", "\"" + c.host_ip + "\" is not an IPv4 or IPv6 address");
  }
  if (c.auth_strategy == "noauth" && !IsLoopback(c.host_ip) && !c.allow_insecure_bind) {
    return Status::Invalid("refusing to serve without authentication on non-loopback address " +
                           c.host_ip +
                           ": set [api] auth_strategy = token or [api] allow_insecure_bind = true");
  }
  return Status::Ok();
}

Status ValidateTls(const Config& c) {
  if (c.ssl_cert_file.empty() != c.ssl_key_file.empty()) {
    return Bad(c.ssl_cert_file.empty() ? "[api] ssl_cert_file" : "[api] ssl_key_file",
               "ssl_cert_file and ssl_key_file must be set together");
  }
  if (c.ssl_cert_file.empty()) return Status::Ok();
  if (auto why = UnreadableReason(c.ssl_cert_file); !why.empty()) {
    return Bad("[api] ssl_cert_file", "cannot read " + c.ssl_cert_file + ": " + why);
  }
  if (auto why = UnreadableReason(c.ssl_key_file); !why.empty()) {
    return Bad("[api] ssl_key_file", "cannot read " + c.ssl_key_file + ": " + why);
  }
  return Status::Ok();
}

Status ValidateApiSection(const Config& c) {
  if (c.port < 0 || c.port > 65535) return Bad("[api] port", "must be 0..65535");
  if (c.api_threads < 2) return Bad("[api] threads", "must be at least 2 (cpprestsdk hangs with 1)");
  if (c.api_workers < 1) return Bad("[api] workers", "must be at least 1");
  if (c.max_limit < 1) return Bad("[api] max_limit", "must be at least 1");
  if (c.max_body_bytes < 1024) return Bad("[api] max_body_bytes", "must be at least 1024");
  if (!c.public_url.empty() && !StartsWith(c.public_url, "http://") &&
      !StartsWith(c.public_url, "https://")) {
    return Bad("[api] public_url", "must start with http:// or https://");
  }
  ZUNVM_RETURN_IF_ERROR(ValidateAuthAndBind(c));
  return ValidateTls(c);
}

Status ValidateConsoleSection(const Config& c) {
  if (c.volume_max_size_gib < 1 || c.volume_max_size_gib > (int64_t{1} << 20)) {
    return Bad("[volumes] max_size_gib", "must be 1..1048576");
  }
  if (c.volume_default_size_gib < 1 || c.volume_default_size_gib > c.volume_max_size_gib) {
    return Bad("[volumes] default_size_gib", "must be 1..max_size_gib");
  }
  if (c.volume_max_inject_bytes < 0 || c.volume_max_inject_bytes > (1 << 20)) {
    return Bad("[volumes] max_inject_bytes", "must be 0..1048576 (the guest agent's message limit)");
  }
  if (c.volume_max_mounts < 0 || c.volume_max_mounts > 16) return Bad("[volumes] max_mounts", "must be 0..16");
  if (c.console_port < -1 || c.console_port > 65535) return Bad("[console] port", "must be 0..65535 (-1: [api] port + 1)");
  if (c.console_ticket_ttl < 1 || c.console_ticket_ttl > 3600) return Bad("[console] ticket_ttl", "must be 1..3600 seconds");
  if (c.console_max_connections < 1 || c.console_max_connections > 100000) {
    return Bad("[console] max_connections", "must be 1..100000");
  }
  if (c.console_enabled) {
    if (!IsIpAddress(c.ConsoleHost())) {
      return Bad("[console] host", "\"" + c.ConsoleHost() + "\" is not an IPv4 or IPv6 address");
    }
    // Tickets travel in URLs: off loopback they need TLS, or the operator's explicit consent.
    if (!IsLoopback(c.ConsoleHost()) && c.ssl_cert_file.empty() && !c.console_allow_insecure_bind) {
      return Status::Invalid("refusing to serve consoles without TLS on non-loopback address " + c.ConsoleHost() +
                             ": set [api] ssl_cert_file/ssl_key_file or [console] allow_insecure_bind = true");
    }
  }
  return Status::Ok();
}

Status ValidateVmSections(const Config& c) {
  if (c.virt_type != "kvm" && c.virt_type != "qemu") {
    return Bad("[libvirt] virt_type", "must be kvm or qemu");
  }
  if (!(c.cpu_overhead >= 0 && c.cpu_overhead <= 64)) {
    return Bad("[libvirt] cpu_overhead", "must be between 0 and 64 (CPUs)");
  }
  if (c.tb_cache_mib != 0 && (c.tb_cache_mib < 8 || c.tb_cache_mib > 4096)) {
    return Bad("[libvirt] tb_cache_mib", "must be 0 (QEMU's default) or between 8 and 4096");
  }
  if (c.guest_boot_timeout < 1) return Bad("[guest] boot_timeout", "must be at least 1");
  if (c.pool_size < 0 || c.pool_size > 256) return Bad("[pool] size", "must be between 0 and 256");
  if (c.pool_template_dir.size() > 200 || c.pool_template_dir.empty() || c.pool_template_dir[0] != '/' ||
      c.pool_template_dir.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-") !=
          std::string::npos || c.pool_template_dir.find("..") != std::string::npos) {
    return Bad("[pool] template_dir", "must be an absolute path of [A-Za-z0-9/._-] (qemu's option syntax)");
  }
  auto def = ParseIpv4Subnet(c.default_subnet);
  if (!def || def->prefix > 29) return Bad("[network] default_subnet", "must be an IPv4 subnet of /29 or larger, like 10.88.0.0/16");
  auto pool = ParseIpv4Subnet(c.subnet_pool);
  if (!pool || pool->prefix > 24) return Bad("[network] subnet_pool", "must be an IPv4 subnet of /24 or larger, like 10.89.0.0/16");
  if (c.default_network.empty() || c.default_network.size() > 255) return Bad("[network] default_network", "must be a name");
  if (c.network_mtu < 576 || c.network_mtu > 9000) return Bad("[network] mtu", "must be within 576..9000");
  if (!ParseIpv4(c.published_host_ip)) return Bad("[network] published_host_ip", "must be an IPv4 address");
  for (const auto& ns : c.dns_nameservers) {
    if (!ParseIpv4(ns)) return Bad("[network] dns_nameservers", "must be IPv4 addresses");
  }
  for (const auto& d : c.dns_search) {
    if (d.size() > 253 || d.find_first_of(" \t\r\n#;") != std::string::npos) {
      return Bad("[network] dns_search", "must be domain names");
    }
  }
  if (!c.ovs_bridge.empty() && !ValidIfName(c.ovs_bridge)) {
    return Bad("[network] ovs_bridge", "must be an interface name (at most 15 characters)");
  }
  return Status::Ok();
}

}  // namespace

std::vector<std::string> KnownConfigOptions() {
  std::vector<std::string> out;
  for (const auto& o : kOptions) out.push_back(std::string(o.section) + "." + o.key);
  return out;
}

Status LoadConfigFile(const std::string& path, Config& cfg) {
  std::string text;
  ZUNVM_RETURN_IF_ERROR(ReadWholeFile(path, text));
  return ParseText(text, "config file " + path, cfg);
}

Status LoadConfigText(const std::string& text, Config& cfg) {
  return ParseText(text, "config", cfg);
}

Status ValidateConfig(const Config& c) {
  ZUNVM_RETURN_IF_ERROR(ValidateDefaultSection(c));
  ZUNVM_RETURN_IF_ERROR(ValidateApiSection(c));
  ZUNVM_RETURN_IF_ERROR(ValidateConsoleSection(c));
  return ValidateVmSections(c);
}

const RuntimeProfile* Config::FindRuntime(const std::string& name) const {
  for (const auto& p : runtime_profiles) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

RuntimeProfile* Config::FindRuntime(const std::string& name) {
  return const_cast<RuntimeProfile*>(std::as_const(*this).FindRuntime(name));
}

std::string Config::ImageDir() const { return image_dir.empty() ? state_dir + "/images" : image_dir; }

std::string Config::DbPath() const {
  return db_connection.empty() ? state_dir + "/zunvm.sqlite" : db_connection;
}

std::string Config::HostName() const {
  if (!host.empty()) return host;
  char buf[HOST_NAME_MAX + 1] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace zunvm
