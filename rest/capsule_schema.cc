#include "rest/capsule_schema.h"

namespace zunvm::capsule_detail {

// A short rendering of a scalar for InvalidValue messages.
std::string Short(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() > 50 ? s.substr(0, 50) + "..." : s;
}

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool IsDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// InvalidCapsuleTemplate (400): "Invalid capsule template: <reason>."
Status InvalidTemplate(const std::string& reason) {
  return Status::Invalid("Invalid capsule template: " + reason + ".", "InvalidCapsuleTemplate");
}


// AdditionalProperty (create_schema.h) for the first key of `obj` not in `keys`.
Status OnlyKeys(const json& obj, std::initializer_list<const char*> keys) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (std::none_of(keys.begin(), keys.end(), [&](const char* k) { return it.key() == k; })) {
      return AdditionalProperty(it.key());
    }
  }
  return Status::Ok();
}

// Zun's container_name (and volume_name): 2..255 characters, ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$.
bool IsContainerName(const std::string& s) {
  if (s.size() < 2 || s.size() > 255 || !IsAlnum(s[0])) return false;
  return std::all_of(s.begin() + 1, s.end(), [](char c) { return IsAlnum(c) || c == '_' || c == '.' || c == '-'; });
}

// Zun's `boolean`: true, false, "True", "true", "False", "false".
Result<bool> ZunBoolean(const std::string& field, const json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v == "True" || v == "true") return true;
  if (v == "False" || v == "false") return false;
  return Err(SchemaError(field, v, "Expected a boolean"));
}

// An object of strings (Zun's labels, annotations, environment); null is empty.
Result<std::map<std::string, std::string>> StringMap(const std::string& field, const json& v) {
  if (v.is_null()) return std::map<std::string, std::string>{};
  return zunvm::StringMap(field, v);
}

// Zun's image_name: 2..255 characters containing [a-zA-Z0-9][a-zA-Z0-9_.-] somewhere.
bool IsImageName(const std::string& s) {
  if (s.size() < 2 || s.size() > 255) return false;
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    char n = s[i + 1];
    if (IsAlnum(s[i]) && (IsAlnum(n) || n == '_' || n == '.' || n == '-')) return true;
  }
  return false;
}

// Zun's cpu string pattern ^[0-9]*(\.([0-9]+))?$, at least one character.
bool IsCpuText(const std::string& s) {
  size_t dot = s.find('.');
  std::string whole = s.substr(0, dot);
  if (!whole.empty() && !IsDigits(whole)) return false;
  if (dot == std::string::npos) return !whole.empty();
  return IsDigits(s.substr(dot + 1));
}

// An integer, or a string of digits (Zun's non_negative_integer and memory).
std::optional<long long> Integer(const json& v) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<unsigned long long>() > 1ULL << 62) return std::nullopt;
    return v.get<long long>();
  }
  if (v.is_string() && IsDigits(v.get<std::string>())) return ParseInt(v.get<std::string>());
  return std::nullopt;
}

Result<double> RequestCpu(const std::string& f, const json& v, const Config& cfg) {
  std::optional<double> d;
  if (v.is_number()) d = v.get<double>();
  else if (v.is_string() && IsCpuText(v.get<std::string>())) d = ParseDouble(v.get<std::string>());
  if (!d || !std::isfinite(*d)) return Err(SchemaError(f, v, "Expected a number"));
  if (*d < cfg.minimum_cpus || *d > cfg.maximum_cpus) {
    return Err(Status::Invalid("Invalid cpu value " + Short(v) + ": must be between " +
                                   std::to_string(cfg.minimum_cpus) + " and " +
                                   std::to_string(cfg.maximum_cpus) + ".",
                               "InvalidValue"));
  }
  return *d;
}

Result<int64_t> RequestMemory(const std::string& f, const json& v, const Config& cfg) {
  auto n = Integer(v);
  if (!n) return Err(SchemaError(f, v, "Expected an integer"));
  if (*n < cfg.minimum_memory || *n > cfg.maximum_memory) {
    return Err(Status::Invalid("Invalid memory value " + Short(v) + ": must be between " +
                                   std::to_string(cfg.minimum_memory) + " and " +
                                   std::to_string(cfg.maximum_memory) + " MiB.",
                               "InvalidValue"));
  }
  return *n;
}

// resources: {requests: {cpu, memory}}.
Status ParseResources(const std::string& f, const json& v, const Config& cfg, TemplateContainer& t) {
  if (!v.is_object()) return SchemaError(f, v, "Expected an object");
  ZUNVM_RETURN_IF_ERROR(OnlyKeys(v, {"requests"}));
  auto req = v.find("requests");
  if (req == v.end()) return Status::Ok();
  if (!req->is_object()) return SchemaError(f + ".requests", *req, "Expected an object");
  ZUNVM_RETURN_IF_ERROR(OnlyKeys(*req, {"cpu", "memory"}));
  // Zun: `if allocation.get('cpu')`, so null asks for nothing (0 fails the minimum).
  if (auto cpu = req->find("cpu"); cpu != req->end() && !cpu->is_null()) {
    auto d = RequestCpu(f + ".requests.cpu", *cpu, cfg);
    if (!d) return d.error();
    t.cpu = *d;
  }
  if (auto mem = req->find("memory"); mem != req->end() && !mem->is_null()) {
    auto m = RequestMemory(f + ".requests.memory", *mem, cfg);
    if (!m) return m.error();
    t.memory = *m;
  }
  return Status::Ok();
}

// ports: [{name, containerPort, hostPort, protocol}].
Status ParsePorts(const std::string& f, const json& v, TemplateContainer& t) {
  if (!v.is_array()) return SchemaError(f, v, "Expected an array");
  t.has_ports = true;
  for (size_t i = 0; i < v.size(); ++i) {
    const json& p = v[i];
    std::string where = f + "[" + std::to_string(i) + "]";
    if (!p.is_object()) return SchemaError(where, p, "Expected an object");
    ZUNVM_RETURN_IF_ERROR(OnlyKeys(p, {"name", "containerPort", "hostPort", "protocol"}));
    auto cp = p.find("containerPort");
    if (cp == p.end()) return SchemaError(where, p, "'containerPort' is a required property");
    auto port = Integer(*cp);
    if (!port || *port < 1 || *port > 65535) {
      return SchemaError(where + ".containerPort", *cp, "Expected a port number between 1 and 65535");
    }
    // hostPort is checked as Zun's schema does, then ignored as Zun does.
    if (auto hp = p.find("hostPort"); hp != p.end()) {
      auto h = Integer(*hp);
      if (!h || *h < 0 || *h > 65535) return SchemaError(where + ".hostPort", *hp, "Expected a port number");
    }
    if (auto n = p.find("name"); n != p.end() && !n->is_null()) {
      if (!n->is_string() || !IsContainerName(n->get<std::string>())) {
        return SchemaError(where + ".name", *n, "Names must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$ (2 to 255 characters)");
      }
    }
    TemplatePort tp{static_cast<int>(*port), "tcp"};
    if (auto proto = p.find("protocol"); proto != p.end()) {
      if (*proto != "TCP" && *proto != "UDP") return SchemaError(where + ".protocol", *proto, "Must be TCP or UDP");
      tp.protocol = ToLower(proto->get<std::string>());
    }
    t.ports.push_back(tp);
  }
  return Status::Ok();
}

// volumeMounts: [{name, mountPath, readOnly}]; one volume per path.
Status ParseMounts(const std::string& f, const json& v, TemplateContainer& t) {
  if (!v.is_array()) return SchemaError(f, v, "Expected an array");
  for (size_t i = 0; i < v.size(); ++i) {
    const json& m = v[i];
    std::string where = f + "[" + std::to_string(i) + "]";
    if (!m.is_object()) return SchemaError(where, m, "Expected an object");
    ZUNVM_RETURN_IF_ERROR(OnlyKeys(m, {"name", "mountPath", "readOnly"}));
    auto name = m.find("name");
    auto path = m.find("mountPath");
    if (name == m.end()) return SchemaError(where, m, "'name' is a required property");
    if (path == m.end()) return SchemaError(where, m, "'mountPath' is a required property");
    if (!name->is_string() || !IsContainerName(name->get<std::string>())) {
      return SchemaError(where + ".name", *name, "Names must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$ (2 to 255 characters)");
    }
    if (!path->is_string() || path->get<std::string>().empty()) {
      return SchemaError(where + ".mountPath", *path, "Expected a non-empty path");
    }
    TemplateMount tm{name->get<std::string>(), path->get<std::string>(), false};
    for (const auto& other : t.mounts) {
      if (other.path == tm.path) return SchemaError(where + ".mountPath", *path, "Two volumes are mounted at this path");
    }
    if (auto ro = m.find("readOnly"); ro != m.end()) {
      auto b = ZunBoolean(where + ".readOnly", *ro);
      if (!b) return b.error();
      tm.read_only = *b;
    }
    t.mounts.push_back(std::move(tm));
  }
  return Status::Ok();
}

// One item of spec.containers or spec.initContainers; `where` names it in messages
// ("spec.containers[0]"). cpu and memory are checked against cfg's container range.
Result<TemplateContainer> ParseTemplateContainer(const json& item, const std::string& where,
                                                        const Config& cfg) {
  if (!item.is_object()) return Err(SchemaError(where, item, "Expected an object"));
  ZUNVM_RETURN_IF_ERROR(OnlyKeys(item, {"name", "image", "command", "args", "resources", "ports",
                                        "volumeMounts", "env", "workDir", "imagePullPolicy", "stdin",
                                        "tty"}));
  TemplateContainer t;
  auto image = item.find("image");
  if (image == item.end()) return Err(InvalidTemplate("Container image is needed"));
  if (!image->is_string() || !IsImageName(image->get<std::string>())) {
    return Err(SchemaError(where + ".image", *image, "Expected an image name of 2 to 255 characters"));
  }
  t.image = image->get<std::string>();
  for (auto it = item.begin(); it != item.end(); ++it) {
    const std::string& k = it.key();
    const json& x = it.value();
    std::string f = where + "." + k;
    if (k == "name") {
      if (x.is_null()) continue;
      if (!x.is_string() || !IsContainerName(x.get<std::string>())) {
        return Err(SchemaError(f, x, "Names must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$ (2 to 255 characters)"));
      }
      t.name = x.get<std::string>();
    } else if (k == "command" || k == "args") {
      auto l = zunvm::StringList(f, x);  // a null argument is refused (Zun's may be null)
      if (!l) return Err(l.error());
      (k == "command" ? t.command : t.args) = std::move(*l);
    } else if (k == "resources") {
      ZUNVM_RETURN_IF_ERROR(ParseResources(f, x, cfg, t));
    } else if (k == "ports") {
      ZUNVM_RETURN_IF_ERROR(ParsePorts(f, x, t));
    } else if (k == "volumeMounts") {
      ZUNVM_RETURN_IF_ERROR(ParseMounts(f, x, t));
    } else if (k == "env") {
      auto m = StringMap(f, x);
      if (!m) return Err(m.error());
      t.env = std::move(*m);
    } else if (k == "workDir") {
      if (x.is_null()) continue;
      if (!x.is_string() || x.get<std::string>().empty()) return Err(SchemaError(f, x, "Expected a non-empty string"));
      t.workdir = x.get<std::string>();
    } else if (k == "imagePullPolicy") {
      if (x.is_null()) continue;
      static const char* kPolicies[] = {"never", "always", "ifnotpresent", "Never", "Always", "IfNotPresent"};
      if (std::none_of(std::begin(kPolicies), std::end(kPolicies), [&](const char* p) { return x == p; })) {
        return Err(SchemaError(f, x, "Must be never, always or ifnotpresent"));
      }
      t.image_pull_policy = x.get<std::string>();
    } else if (k == "stdin" || k == "tty") {
      auto b = ZunBoolean(f, x);
      if (!b) return Err(b.error());
      (k == "stdin" ? t.stdin : t.tty) = *b;
    }
  }
  return t;
}

// spec.volumes (null: none), with Zun's capsule_get_volume_spec checks; a size is 1 to
// cfg.volume_max_size_gib GiB.
Result<std::vector<CapsuleVolume>> ParseTemplateVolumes(const json& volumes, const Config& cfg) {
  std::vector<CapsuleVolume> out;
  if (volumes.is_null()) return out;
  if (!volumes.is_array()) return Err(SchemaError("spec.volumes", volumes, "Expected an array"));
  for (size_t i = 0; i < volumes.size(); ++i) {
    const json& vol = volumes[i];
    std::string where = "spec.volumes[" + std::to_string(i) + "]";
    // Zun's schema lets a volume have other keys (additionalProperties: true): ignored.
    if (!vol.is_object()) return Err(SchemaError(where, vol, "Expected an object"));
    auto name = vol.find("name");
    auto cinder = vol.find("cinder");
    if (name == vol.end()) return Err(SchemaError(where, vol, "'name' is a required property"));
    if (cinder == vol.end()) return Err(SchemaError(where, vol, "'cinder' is a required property"));
    if (!name->is_string() || !IsContainerName(name->get<std::string>())) {
      return Err(SchemaError(where + ".name", *name, "Names must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$ (2 to 255 characters)"));
    }
    if (!cinder->is_object()) return Err(SchemaError(where + ".cinder", *cinder, "Expected an object"));
    ZUNVM_RETURN_IF_ERROR(OnlyKeys(*cinder, {"volumeID", "size", "autoRemove"}));
    CapsuleVolume cv;
    cv.name = name->get<std::string>();
    if (auto id = cinder->find("volumeID"); id != cinder->end()) {
      if (!id->is_string() || id->get<std::string>().size() != 36) {
        return Err(SchemaError(where + ".cinder.volumeID", *id, "Expected a volume uuid (36 characters)"));
      }
      cv.volume_uuid = IsUuidLike(id->get<std::string>()) ? CanonicalUuid(id->get<std::string>())
                                                          : id->get<std::string>();
    }
    if (auto size = cinder->find("size"); size != cinder->end()) {
      double d = size->is_number() ? size->get<double>() : 0;
      if (!size->is_number() || d != std::floor(d) || d < 1 || d > static_cast<double>(cfg.volume_max_size_gib)) {
        return Err(SchemaError(where + ".cinder.size", *size,
                       "Volume size must be 1.." + std::to_string(cfg.volume_max_size_gib) + " GiB."));
      }
      cv.size_gib = static_cast<int64_t>(d);
    }
    bool auto_remove = false;
    if (auto ar = cinder->find("autoRemove"); ar != cinder->end()) {
      auto b = ZunBoolean(where + ".cinder.autoRemove", *ar);
      if (!b) return Err(b.error());
      auto_remove = *b;
    }
    // capsule_get_volume_spec: an empty `cinder` is "no cinder"; a volume is named or sized.
    if (cinder->empty()) return Err(InvalidTemplate("Zun now Only support Cinder volume driver"));
    if (cv.volume_uuid.empty() && !cv.size_gib) return Err(InvalidTemplate("Volume size is needed"));
    if (!cv.volume_uuid.empty() && cv.size_gib) {
      return Err(InvalidTemplate("Volume size and uuid could not be set at the same time"));
    }
    cv.auto_remove = auto_remove && cv.size_gib.has_value();  // Zun: only for volumes it makes
    out.push_back(std::move(cv));
  }
  return out;
}

}  // namespace zunvm::capsule_detail
