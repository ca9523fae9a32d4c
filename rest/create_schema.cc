#include "rest/create_schema.h"

#include <algorithm>
#include <functional>
#include <map>
#include <regex>

#include "common/base64.h"
#include "common/ids.h"
#include "common/ipv4.h"
#include "common/shlex.h"
#include "common/strings.h"

namespace zunvm {

using nlohmann::json;

namespace {

// Values nested deeper than this are not echoed in messages (dump() recurses).
constexpr int kMaxShownDepth = 32;

bool TooDeep(const json& v) {
  std::vector<std::pair<const json*, int>> stack{{&v, 0}};
  while (!stack.empty()) {
    auto [j, depth] = stack.back();
    stack.pop_back();
    if (depth > kMaxShownDepth) return true;
    if (j->is_structured()) {
      for (const auto& e : *j) stack.emplace_back(&e, depth + 1);
    }
  }
  return false;
}

}  // namespace

Status SchemaError(const std::string& field, const json& value, const std::string& why) {
  std::string shown = TooDeep(value) ? std::string("\"(nested too deeply to show)\"")
                                     : value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (shown.size() > 200) shown = shown.substr(0, 200) + "...";
  return Status::Invalid("Invalid input for field/attribute " + field + ". Value: " + shown +
                             ". " + why,
                         "SchemaValidationError");
}

Result<std::map<std::string, std::string>> StringMap(const std::string& f, const json& v) {
  if (!v.is_object()) return Err(SchemaError(f, v, "Expected an object"));
  std::map<std::string, std::string> out;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it.key().empty() || it.key().size() > 255) return Err(SchemaError(f, v, "Bad key"));
    if (!it.value().is_string()) {
      return Err(SchemaError(f, v, "Value of '" + it.key() + "' is not of type 'string'"));
    }
    out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

Result<std::vector<std::string>> StringList(const std::string& f, const json& v) {
  if (!v.is_array()) return Err(SchemaError(f, v, "Expected an array of strings"));
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) return Err(SchemaError(f, v, "Expected an array of strings"));
    out.push_back(e.get<std::string>());
  }
  return out;
}

Status CheckRuntime(const Config& cfg, const std::string& name) {
  const RuntimeProfile* rt = cfg.FindRuntime(name);
  if (std::find(cfg.runtimes.begin(), cfg.runtimes.end(), name) == cfg.runtimes.end() || rt == nullptr) {
    return Status::Invalid("Runtime " + name + " is not configured on this host (configured: " +
                               Join(cfg.runtimes, ", ") + ").",
                           "InvalidValue");
  }
  if (!rt->unavailable.empty()) {
    return Status::Invalid("Runtime " + name + " is configured but this host cannot run it: " + rt->unavailable + ".",
                           "InvalidValue");
  }
  return Status::Ok();
}

Status AdditionalProperty(const std::string& key) {
  return Status::Invalid("Additional properties are not allowed ('" + key + "' was unexpected)",
                         "SchemaValidationError");
}

namespace {

// One of `mounts`: Zun's keys (type, source, destination, size) and zunvm's (read_only; for
// type block, the Zun driver's host device: source or device_path, and serial). Shapes only:
// the volume service checks paths, names and sizes.
Result<ContainerMount> ParseMount(const json& m) {
  if (!m.is_object()) return Err(SchemaError("mounts", m, "Expected an array of objects"));
  static const std::vector<std::string> keys = {"type", "source", "destination", "size", "read_only", "device_path", "serial"};
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) return Err(AdditionalProperty(it.key()));
  }
  ContainerMount out;
  auto str = [&](const char* key, std::string& into) -> Status {
    auto it = m.find(key);
    if (it == m.end() || it->is_null()) return Status::Ok();
    if (!it->is_string()) return SchemaError(std::string("mounts.") + key, *it, "Expected a string");
    into = it->get<std::string>();
    return Status::Ok();
  };
  std::string type = "volume", source, device;
  ZUNVM_RETURN_IF_ERROR(str("type", type));
  ZUNVM_RETURN_IF_ERROR(str("source", source));
  ZUNVM_RETURN_IF_ERROR(str("destination", out.destination));
  ZUNVM_RETURN_IF_ERROR(str("device_path", device));
  ZUNVM_RETURN_IF_ERROR(str("serial", out.serial));
  auto parsed = ParseMountType(type);
  if (!parsed) return Err(SchemaError("mounts.type", m["type"], "Expected volume, bind or block"));
  out.type = *parsed;
  if (auto ro = m.find("read_only"); ro != m.end() && !ro->is_null()) {
    if (!ro->is_boolean()) return Err(SchemaError("mounts.read_only", *ro, "Expected a boolean"));
    out.read_only = ro->get<bool>();
  }
  if (auto size = m.find("size"); size != m.end() && !size->is_null()) {
    std::optional<int64_t> n;
    if (size->is_number_integer()) n = size->get<int64_t>();
    else if (size->is_string()) n = ParseInt(size->get<std::string>());
    if (!n || *n < 1) return Err(SchemaError("mounts.size", *size, "Expected a positive number of GiB"));
    out.size_gib = *n;
  }
  if (out.destination.empty()) return Err(SchemaError("mounts", m, "'destination' is a required property"));
  switch (out.type) {
    case ContainerMount::Type::kVolume:
      if (source.empty() && !out.size_gib) return Err(SchemaError("mounts", m, "A mount needs a source or a size"));
      out.source = source;
      break;
    case ContainerMount::Type::kBind: {
      auto raw = Base64Decode(source);
      if (!raw) return Err(SchemaError("mounts.source", m["source"], "A bind mount's source is the file's contents in base64"));
      out.content = std::move(*raw);
      break;
    }
    case ContainerMount::Type::kBlock:
      out.source = device.empty() ? source : device;
      break;
  }
  return out;
}

Status NotInVersion(const std::string& key, const ApiVersion& v, int since) {
  return Status::Invalid("Invalid param " + key + " because current request version is " +
                             v.ToString() + ". " + key + " is only supported from version 1." +
                             std::to_string(since),
                         "InvalidParamInVersion");
}

Result<std::string> String(const std::string& f, const json& v, size_t min, size_t max) {
  if (!v.is_string()) return Err(SchemaError(f, v, "'" + v.dump() + "' is not of type 'string'"));
  std::string s = v.get<std::string>();
  if (s.size() < min) return Err(SchemaError(f, v, "Value is too short"));
  if (s.size() > max) return Err(SchemaError(f, v, "Value is too long"));
  return s;
}

Result<bool> Bool(const std::string& f, const json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    if (auto b = ParseBoolStrict(v.get<std::string>())) return *b;
  }
  return Err(SchemaError(f, v, "Expected a boolean"));
}

Result<double> Cpu(const json& v, const Config& cfg) {
  std::optional<double> d;
  if (v.is_number()) d = v.get<double>();
  else if (v.is_string()) d = ParseDouble(v.get<std::string>());
  if (!d) return Err(SchemaError("cpu", v, "Expected a number"));
  if (*d < cfg.minimum_cpus || *d > cfg.maximum_cpus) {
    return Err(Status::Invalid("Invalid cpu value " + v.dump() + ": must be between " +
                                   std::to_string(cfg.minimum_cpus) + " and " +
                                   std::to_string(cfg.maximum_cpus) + ".",
                               "InvalidValue"));
  }
  return *d;
}

Result<int64_t> IntField(const std::string& f, const json& v, int64_t min, int64_t max,
                         const std::string& unit) {
  std::optional<long long> n;
  if (v.is_number_integer()) n = v.get<long long>();
  else if (v.is_string() && !v.get<std::string>().empty() &&
           v.get<std::string>().find_first_not_of("0123456789") == std::string::npos) {
    n = ParseInt(v.get<std::string>());
  }
  if (!n) return Err(SchemaError(f, v, "Expected an integer"));
  if (*n < min || *n > max) {
    return Err(Status::Invalid("Invalid " + f + " value " + v.dump() + ": must be between " +
                                   std::to_string(min) + " and " + std::to_string(max) + " " +
                                   unit + ".",
                               "InvalidValue"));
  }
  return *n;
}

using FieldFn = std::function<Status(const json&, Container&)>;
struct Field {
  int since;           // minor version the key appears in
  bool schema_gated;   // older versions reject it as an additional property
  FieldFn apply;
};

}  // namespace

Status ValidateContainerName(const std::string& name) {
  static const std::regex re("^[a-zA-Z0-9][a-zA-Z0-9_.-]+$");
  if (name.size() < 2 || name.size() > 255 || !std::regex_match(name, re)) {
    return SchemaError("name", json(name),
                       "Names must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$ (2 to 255 characters)");
  }
  return Status::Ok();
}

Result<Container> ParseCreateBody(const json& body, const ApiVersion& v, const Config& cfg) {
  if (!body.is_object()) {
    return Err(Status::Invalid("The request body must be a JSON object.", "SchemaValidationError"));
  }
  const std::map<std::string, Field> fields = {
      {"image", {1, false, [](const json& x, Container& c) -> Status {
         auto s = String("image", x, 2, 255);
         if (!s) return s.error();
         c.image = *s;
         return Status::Ok();
       }}},
      // zunvm extension: the caller chooses the uuid (Zun's driver passes the uuid Zun gave
      // the container). A uuid already in use is refused with 409 by the store.
      {"uuid", {1, false, [](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         if (!x.is_string() || !IsUuidLike(x.get<std::string>())) {
           return SchemaError("uuid", x, "Expected a uuid");
         }
         c.uuid = CanonicalUuid(x.get<std::string>());
         return Status::Ok();
       }}},
      {"name", {1, false, [](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         auto s = String("name", x, 2, 255);
         if (!s) return s.error();
         ZUNVM_RETURN_IF_ERROR(ValidateContainerName(*s));
         c.name = *s;
         return Status::Ok();
       }}},
      {"command", {1, false, [&v](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         if (!v.AtLeast(20)) {
           if (!x.is_string()) return SchemaError("command", x, "Expected a string");
           auto words = ShellSplit(x.get<std::string>());
           if (!words) return SchemaError("command", x, words.error().message());
           c.command = *words;
           return Status::Ok();
         }
         auto l = StringList("command", x);
         if (!l) return l.error();
         c.command = *l;
         return Status::Ok();
       }}},
      {"entrypoint", {40, true, [](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         auto l = StringList("entrypoint", x);
         if (!l) return l.error();
         c.entrypoint = *l;
         return Status::Ok();
       }}},
      {"cpu", {1, false, [&cfg](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         auto d = Cpu(x, cfg);
         if (!d) return d.error();
         c.cpu = *d;
         return Status::Ok();
       }}},
      {"memory", {1, false, [&cfg](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         auto m = IntField("memory", x, cfg.minimum_memory, cfg.maximum_memory, "MiB");
         if (!m) return m.error();
         c.memory = *m;
         return Status::Ok();
       }}},
      {"disk", {1, false, [&cfg](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         auto d = IntField("disk", x, cfg.minimum_disk, cfg.maximum_disk, "GiB");
         if (!d) return d.error();
         c.disk = *d;
         return Status::Ok();
       }}},
      {"cpu_policy", {1, false, [](const json& x, Container& c) -> Status {
         if (!x.is_string() || (x != "dedicated" && x != "shared")) {
           return SchemaError("cpu_policy", x, "Must be 'dedicated' or 'shared'");
         }
         c.cpu_policy = x.get<std::string>();
         return Status::Ok();
       }}},
      {"workdir", {1, false, [](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         auto s = String("workdir", x, 1, 255);
         if (!s) return s.error();
         c.workdir = *s;
         return Status::Ok();
       }}},
      {"environment", {1, false, [](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         auto m = StringMap("environment", x);
         if (!m) return m.error();
         c.environment = *m;
         return Status::Ok();
       }}},
      {"labels", {1, false, [](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         auto m = StringMap("labels", x);
         if (!m) return m.error();
         c.labels = *m;
         return Status::Ok();
       }}},
      {"restart_policy", {1, false, [](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         if (!x.is_object()) return SchemaError("restart_policy", x, "Expected an object");
         for (auto it = x.begin(); it != x.end(); ++it) {
           if (it.key() != "Name" && it.key() != "MaximumRetryCount") {
             return AdditionalProperty(it.key());
           }
         }
         auto name = x.find("Name");
         if (name == x.end()) return SchemaError("restart_policy", x, "'Name' is a required property");
         static const std::vector<std::string> names = {"no", "always", "on-failure",
                                                        "unless-stopped"};
         if (!name->is_string() ||
             std::find(names.begin(), names.end(), name->get<std::string>()) == names.end()) {
           return SchemaError("restart_policy", x,
                              "Name must be one of no, always, on-failure, unless-stopped");
         }
         int retry = 0;
         if (auto m = x.find("MaximumRetryCount"); m != x.end()) {
           auto n = IntField("restart_policy.MaximumRetryCount", *m, 0, 1000000, "");
           if (!n) return n.error();
           retry = static_cast<int>(*n);
         }
         std::string nm = name->get<std::string>();
         if ((nm == "always" || nm == "unless-stopped") && retry != 0) {
           return Status::Invalid("maximum retry count not valid with restart policy of " + nm,
                                  "InvalidValue");
         }
         if (nm == "no") retry = 0;
         c.restart_policy = RestartPolicy{nm, retry};
         return Status::Ok();
       }}},
      {"interactive", {1, false, [](const json& x, Container& c) -> Status {
         auto b = Bool("interactive", x);
         if (!b) return b.error();
         c.interactive = *b;
         return Status::Ok();
       }}},
      {"tty", {1, false, [](const json& x, Container& c) -> Status {
         auto b = Bool("tty", x);
         if (!b) return b.error();
         c.tty = *b;
         return Status::Ok();
       }}},
      {"image_driver", {1, false, [](const json& x, Container& c) -> Status {
         if (x.is_null() || x == "None") return Status::Ok();
         if (x != "docker" && x != "glance") {
           return SchemaError("image_driver", x, "Must be 'docker' or 'glance'");
         }
         if (x == "glance") {
           return Status::Invalid("image_driver glance needs OpenStack Glance, which zunvm does "
                                  "not use; use docker (OCI registries)",
                                  "InvalidValue");
         }
         c.image_driver = x.get<std::string>();
         return Status::Ok();
       }}},
      {"image_pull_policy", {1, false, [](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         std::string p = x.is_string() ? ToLower(x.get<std::string>()) : "";
         if (p != "never" && p != "always" && p != "ifnotpresent") {
           return SchemaError("image_pull_policy", x, "Must be never, always or ifnotpresent");
         }
         c.image_pull_policy = p;
         return Status::Ok();
       }}},
      {"security_groups", {1, false, [](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         auto l = StringList("security_groups", x);
         if (!l) return l.error();
         // zunvmd's own networks have one policy, Neutron's default group's (docs/networking.md):
         // "default" names it; any other group needs Neutron.
         for (const auto& g : *l) {
           if (g != "default") {
             return Status::Invalid("Security group '" + g + "' needs Neutron, which this zunvmd does not use: "
                                    "its networks have one policy, 'default'.", "InvalidValue");
           }
         }
         if (!l->empty()) c.security_groups = {"default"};
         return Status::Ok();
       }}},
      {"nets", {2, false, [](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         if (!x.is_array()) return SchemaError("nets", x, "Expected an array");
         for (const auto& n : x) {
           if (!n.is_object()) return SchemaError("nets", x, "Expected an array of objects");
           for (auto it = n.begin(); it != n.end(); ++it) {
             static const std::vector<std::string> keys = {"network", "port", "v4-fixed-ip",
                                                           "v6-fixed-ip"};
             // A Neutron port's details (zunvm extension, service/neutron_port.h checks them).
             static const std::vector<std::string> port_keys = {
                 "mac_address", "fixed_ips", "mtu", "dns_nameservers", "preserve_on_delete"};
             bool plain = std::find(keys.begin(), keys.end(), it.key()) != keys.end();
             if (!plain && std::find(port_keys.begin(), port_keys.end(), it.key()) == port_keys.end()) {
               return AdditionalProperty(it.key());
             }
             if (plain && !it.value().is_string()) return SchemaError("nets", x, "Expected strings");
           }
         }
         c.requested_nets = x;
         return Status::Ok();
       }}},
      {"mounts", {11, false, [](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         if (!x.is_array()) return SchemaError("mounts", x, "Expected an array");
         if (x.size() > 16) return SchemaError("mounts", x, "A container has at most 16 mounts");
         for (const auto& m : x) {
           auto mount = ParseMount(m);
           if (!mount) return mount.error();
           c.mounts.push_back(std::move(*mount));
         }
         return Status::Ok();
       }}},
      {"hints", {1, false, [](const json& x, Container&) -> Status {
         if (!x.is_null() && !x.is_object()) return SchemaError("hints", x, "Expected an object");
         return Status::Ok();
       }}},
      {"availability_zone", {1, false, [&cfg](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         auto s = String("availability_zone", x, 1, 255);
         if (!s) return s.error();
         if (*s != cfg.default_availability_zone) {
           return Status::Invalid("Availability zone " + *s + " is not served here (this host "
                                  "is in " + cfg.default_availability_zone + ").",
                                  "InvalidValue");
         }
         c.availability_zone = *s;
         return Status::Ok();
       }}},
      {"runtime", {5, false, [&cfg](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         auto s = String("runtime", x, 1, 255);
         if (!s) return s.error();
         ZUNVM_RETURN_IF_ERROR(CheckRuntime(cfg, *s));
         c.runtime = *s;
         return Status::Ok();
       }}},
      {"hostname", {9, false, [](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         auto s = String("hostname", x, 2, 63);
         if (!s) return s.error();
         static const std::regex re("^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$");
         if (!std::regex_match(*s, re)) return SchemaError("hostname", x, "Not a valid hostname");
         c.hostname = *s;
         return Status::Ok();
       }}},
      {"auto_remove", {3, false, [](const json& x, Container& c) -> Status {
         auto b = Bool("auto_remove", x);
         if (!b) return b.error();
         c.auto_remove = *b;
         return Status::Ok();
       }}},
      {"auto_heal", {1, false, [](const json& x, Container& c) -> Status {
         auto b = Bool("auto_heal", x);
         if (!b) return b.error();
         c.auto_heal = *b;
         return Status::Ok();
       }}},
      {"privileged", {21, false, [&cfg](const json& x, Container& c) -> Status {
         auto b = Bool("privileged", x);
         if (!b) return b.error();
         if (!cfg.allow_privileged) {
           return Status(Code::kForbidden,
                         "Policy doesn't allow container:create:privileged to be performed.",
                         "PolicyNotAuthorized");
         }
         c.privileged = *b;
         return Status::Ok();
       }}},
      {"healthcheck", {22, false, [](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         if (!x.is_object()) return SchemaError("healthcheck", x, "Expected an object");
         Healthcheck h;
         for (auto it = x.begin(); it != x.end(); ++it) {
           const std::string& k = it.key();
           if (k == "cmd") {
             auto s = String("healthcheck.cmd", it.value(), 1, 4096);
             if (!s) return s.error();
             h.test = *s;
           } else if (k == "interval" || k == "retries" || k == "timeout") {
             auto n = IntField("healthcheck." + k, it.value(), 0, 86400, "");
             if (!n) return n.error();
             (k == "interval" ? h.interval : k == "retries" ? h.retries : h.timeout) =
                 static_cast<int>(*n);
           } else {
             return AdditionalProperty(k);
           }
         }
         c.healthcheck = h;
         return Status::Ok();
       }}},
      {"exposed_ports", {24, false, [](const json& x, Container& c) -> Status {
         if (x.is_null()) return Status::Ok();
         if (!x.is_object()) return SchemaError("exposed_ports", x, "Expected an object");
         static const std::regex re("^([0-9]{1,5})(/(tcp|udp))?$");
         for (auto it = x.begin(); it != x.end(); ++it) {
           std::smatch m;
           const std::string& k = it.key();
           if (!std::regex_match(k, m, re) || !it.value().is_object()) {
             return SchemaError("exposed_ports", x, "Keys must be PORT[/tcp|/udp] with object values");
           }
           int port = std::stoi(m[1].str());
           if (port < 1 || port > 65535) return SchemaError("exposed_ports", x, "Port out of range");
           // zunvm extension: {"host_port": N, "host_ip": "A.B.C.D"} chooses where it is published.
           json binding = json::object();
           for (auto b = it.value().begin(); b != it.value().end(); ++b) {
             if (b.key() == "host_port") {
               if (!b.value().is_number_integer() || b.value().get<int64_t>() < 1 || b.value().get<int64_t>() > 65535) {
                 return SchemaError("exposed_ports", x, "host_port must be an integer 1..65535");
               }
             } else if (b.key() == "host_ip") {
               if (!b.value().is_string() || !ParseIpv4(b.value().get<std::string>())) {
                 return SchemaError("exposed_ports", x, "host_ip must be an IPv4 address");
               }
             } else {
               return AdditionalProperty(b.key());
             }
             binding[b.key()] = b.value();
           }
           std::string key = m[1].str() + "/" + (m[3].matched ? m[3].str() : "tcp");
           c.exposed_ports[key] = binding;
           if (std::find(c.ports.begin(), c.ports.end(), port) == c.ports.end()) c.ports.push_back(port);
         }
         return Status::Ok();
       }}},
      {"registry", {31, false, [](const json& x, Container&) -> Status {
         if (x.is_null()) return Status::Ok();
         return Status::Invalid("Private registries are configured in zunvm.conf [image], not "
                                "per container.", "InvalidValue");
       }}},
      {"host", {39, true, [&cfg](const json& x, Container&) -> Status {
         if (x.is_null()) return Status::Ok();
         auto s = String("host", x, 1, 255);
         if (!s) return s.error();
         if (*s != cfg.HostName()) {
           return Status::Invalid("Host " + *s + " is not this host (" + cfg.HostName() + ").",
                                  "InvalidValue");
         }
         return Status::Ok();
       }}},
  };

  Container c;
  c.cpu = cfg.default_cpu;
  c.memory = cfg.default_memory;
  c.runtime = cfg.default_runtime;
  c.image_driver = "docker";
  // Keys first: unknown keys and keys of later versions are refused before any value check.
  for (auto it = body.begin(); it != body.end(); ++it) {
    auto f = fields.find(it.key());
    if (f == fields.end()) return Err(AdditionalProperty(it.key()));
    if (!v.AtLeast(f->second.since)) {
      return Err(f->second.schema_gated ? AdditionalProperty(it.key())
                                        : NotInVersion(it.key(), v, f->second.since));
    }
  }
  if (!body.contains("image")) {
    return Err(Status::Invalid("'image' is a required property", "SchemaValidationError"));
  }
  for (auto it = body.begin(); it != body.end(); ++it) {
    Status st = fields.at(it.key()).apply(it.value(), c);
    if (!st.ok()) return Err(st);
  }
  if (v.AtLeast(20) && !v.AtLeast(36)) c.tty = c.interactive;
  if (!v.AtLeast(20) && !body.contains("tty")) c.tty = c.interactive;
  if (!c.disk) c.disk = cfg.default_disk;  // a VM driver honours disk: Zun's default applies
  // A runtime's own default size, for what the request leaves out.
  if (const RuntimeProfile* rt = cfg.FindRuntime(*c.runtime)) {
    auto given = [&](const char* k) { return body.contains(k) && !body[k].is_null(); };
    if (rt->vcpus > 0 && !given("cpu")) c.cpu = std::clamp(rt->vcpus, cfg.minimum_cpus, cfg.maximum_cpus);
    if (rt->memory_mib > 0 && !given("memory")) c.memory = std::clamp(rt->memory_mib, cfg.minimum_memory, cfg.maximum_memory);
  }
  return c;
}

Result<ContainerPatch> ParsePatchBody(const json& body, const ApiVersion& v, const Config& cfg) {
  if (!body.is_object() || body.empty()) {
    return Err(Status::Invalid("The request body must be a non-empty JSON object.",
                               "SchemaValidationError"));
  }
  ContainerPatch p;
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& k = it.key();
    const json& x = it.value();
    if (k == "cpu") {
      auto d = Cpu(x, cfg);
      if (!d) return Err(d.error());
      p.cpu = *d;
    } else if (k == "memory") {
      auto m = IntField("memory", x, cfg.minimum_memory, cfg.maximum_memory, "MiB");
      if (!m) return Err(m.error());
      p.memory = *m;
    } else if (k == "name") {
      if (!v.AtLeast(14)) return Err(NotInVersion("name", v, 14));
      auto s = String("name", x, 2, 255);
      if (!s) return Err(s.error());
      ZUNVM_RETURN_IF_ERROR(ValidateContainerName(*s));
      p.name = *s;
    } else if (k == "auto_heal") {
      auto b = Bool("auto_heal", x);
      if (!b) return Err(b.error());
      p.auto_heal = *b;
    } else {
      return Err(AdditionalProperty(k));
    }
  }
  return p;
}

Result<ContainerPatch> ParseResizeParams(const std::optional<std::string>& cpu,
                                         const std::optional<std::string>& memory,
                                         const Config& cfg) {
  ContainerPatch p;
  if (cpu) {
    auto d = Cpu(json(*cpu), cfg);
    if (!d) return Err(d.error());
    p.cpu = *d;
  }
  if (memory) {
    auto m = IntField("memory", json(*memory), cfg.minimum_memory, cfg.maximum_memory, "MiB");
    if (!m) return Err(m.error());
    p.memory = *m;
  }
  if (!p.cpu && !p.memory) {
    return Err(Status::Invalid("resize_container needs cpu or memory.", "InvalidValue"));
  }
  return p;
}

}  // namespace zunvm
