#include "agent/guest/oci_config.h"

#include <cmath>
#include <cstdint>

#include "agent/guest/security.h"

namespace zunvm::agent {

using nlohmann::json;

namespace {

Status Bad(const std::string& field, const std::string& why) {
  return Status::Invalid("create_container: oci." + field + " " + why);
}

// `j[key]` when it is of the wanted kind; nullptr when absent or null; an error otherwise.
Result<const json*> Member(const json& j, const char* key, json::value_t kind, const std::string& field) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return static_cast<const json*>(nullptr);
  bool ok = it->type() == kind || (kind == json::value_t::number_unsigned && it->is_number_integer() && *it >= 0);
  if (!ok) return Err(Bad(field, "has the wrong type"));
  return &*it;
}

Result<std::vector<std::string>> StringList(const json& j, const std::string& field, size_t max) {
  if (!j.is_array() || j.size() > max) return Err(Bad(field, "must be a list of at most " + std::to_string(max) + " strings"));
  std::vector<std::string> out;
  for (const auto& v : j) {
    if (!v.is_string() || v.get_ref<const std::string&>().size() > 65536) return Err(Bad(field, "must hold strings"));
    out.push_back(v.get<std::string>());
  }
  return out;
}

Status ApplyProcess(const json& p, ContainerSpec& s) {
  if (!p.is_object()) return Bad("process", "must be an object");
  auto args = Member(p, "args", json::value_t::array, "process.args");
  if (!args) return args.error();
  if (*args == nullptr || (*args)->empty()) return Bad("process.args", "is empty");
  auto argv = StringList(**args, "process.args", 4096);
  if (!argv) return argv.error();
  s.argv = std::move(*argv);
  if (auto env = Member(p, "env", json::value_t::array, "process.env"); !env) {
    return env.error();
  } else if (*env) {
    auto list = StringList(**env, "process.env", 4096);
    if (!list) return list.error();
    s.env = std::move(*list);
  }
  if (auto cwd = Member(p, "cwd", json::value_t::string, "process.cwd"); !cwd) {
    return cwd.error();
  } else if (*cwd) {
    s.cwd = (*cwd)->get<std::string>();
    if (s.cwd.empty() || s.cwd.front() != '/') return Bad("process.cwd", "must be absolute");
  }
  if (auto user = Member(p, "user", json::value_t::object, "process.user"); !user) {
    return user.error();
  } else if (*user) {
    for (const char* k : {"uid", "gid"}) {
      auto id = Member(**user, k, json::value_t::number_unsigned, std::string("process.user.") + k);
      if (!id) return id.error();
      if (*id == nullptr) continue;
      uint64_t v = (*id)->get<uint64_t>();
      if (v >= UINT32_MAX) return Bad(std::string("process.user.") + k, "is out of range");
      (std::string_view(k) == "uid" ? s.uid : s.gid) = static_cast<uint32_t>(v);
    }
  }
  if (auto rl = Member(p, "rlimits", json::value_t::array, "process.rlimits"); !rl) {
    return rl.error();
  } else if (*rl) {
    for (const auto& r : **rl) {
      if (!r.is_object() || !r.contains("type") || !r["type"].is_string() || !r.contains("soft") ||
          !r["soft"].is_number_unsigned()) {
        return Bad("process.rlimits", "must hold {type, soft, hard}");
      }
      std::string type = r["type"].get<std::string>();
      if (type.rfind("RLIMIT_", 0) != 0) return Bad("process.rlimits", "type " + type + " is not RLIMIT_*");
      std::string name = type.substr(7);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!RlimitNames().count(name)) return Bad("process.rlimits", "type " + type + " is not one the agent sets");
      s.rlimits[name] = r["soft"].get<uint64_t>();
    }
  }
  if (auto caps = Member(p, "capabilities", json::value_t::object, "process.capabilities"); !caps) {
    return caps.error();
  } else if (*caps) {
    s.security.capabilities.clear();
    auto bounding = Member(**caps, "bounding", json::value_t::array, "process.capabilities.bounding");
    if (!bounding) return bounding.error();
    if (*bounding) {
      auto names = StringList(**bounding, "process.capabilities.bounding", 64);
      if (!names) return names.error();
      for (const auto& n : *names) {
        int cap = CapabilityByName(n);
        if (cap < 0) return Bad("process.capabilities.bounding", "names an unknown capability " + n);
        s.security.capabilities.push_back(cap);
      }
    }
  }
  if (auto nnp = Member(p, "noNewPrivileges", json::value_t::boolean, "process.noNewPrivileges"); !nnp) {
    return nnp.error();
  } else {
    s.security.no_new_privileges = *nnp && (*nnp)->get<bool>();
  }
  return Status::Ok();
}

Status ApplyLinux(const json& l, ContainerSpec& s) {
  if (!l.is_object()) return Bad("linux", "must be an object");
  s.security.seccomp = l.contains("seccomp") && !l["seccomp"].is_null();
  for (auto [key, out] : {std::pair{"maskedPaths", &s.security.masked_paths}, std::pair{"readonlyPaths", &s.security.readonly_paths}}) {
    out->clear();
    auto list = Member(l, key, json::value_t::array, std::string("linux.") + key);
    if (!list) return list.error();
    if (*list == nullptr) continue;
    auto paths = StringList(**list, std::string("linux.") + key, 256);
    if (!paths) return paths.error();
    for (const auto& path : *paths) {
      if (path.empty() || path.front() != '/' || path.find("..") != std::string::npos) {
        return Bad(std::string("linux.") + key, "holds a path that is not absolute: " + path);
      }
    }
    *out = std::move(*paths);
  }
  auto res = Member(l, "resources", json::value_t::object, "linux.resources");
  if (!res) return res.error();
  if (*res == nullptr) return Status::Ok();
  const json& r = **res;
  if (r.contains("memory") && r["memory"].is_object() && r["memory"].contains("limit")) {
    const json& limit = r["memory"]["limit"];
    if (!limit.is_number_integer() || limit.get<int64_t>() < (int64_t{4} << 20)) {
      return Bad("linux.resources.memory.limit", "must be at least 4 MiB");
    }
    s.memory_bytes = limit.get<int64_t>();
  }
  if (r.contains("cpu") && r["cpu"].is_object() && r["cpu"].contains("quota")) {
    const json& quota = r["cpu"]["quota"];
    const json period = r["cpu"].value("period", json(100000));
    if (!quota.is_number_integer() || !period.is_number_unsigned() || period.get<uint64_t>() == 0 ||
        quota.get<int64_t>() <= 0) {
      return Bad("linux.resources.cpu", "needs a positive quota and period");
    }
    s.cpus = static_cast<double>(quota.get<int64_t>()) / static_cast<double>(period.get<uint64_t>());
  }
  // The device rule: allow-all is a privileged container's (every device of the guest).
  if (r.contains("devices") && r["devices"].is_array() && !r["devices"].empty() && r["devices"][0].is_object()) {
    s.security.standard_devices_only = !r["devices"][0].value("allow", false);
  }
  return Status::Ok();
}

}  // namespace

Status ApplyOciConfig(const json& oci, ContainerSpec& s) {
  if (!oci.is_object()) return Bad("", "must be an object");
  auto process = oci.find("process");
  if (process == oci.end()) return Bad("process", "is required");
  ZUNVM_RETURN_IF_ERROR(ApplyProcess(*process, s));
  if (auto host = Member(oci, "hostname", json::value_t::string, "hostname"); !host) {
    return host.error();
  } else if (*host) {
    s.hostname = (*host)->get<std::string>();
    if (s.hostname.size() > 63) return Bad("hostname", "is longer than 63");
  }
  auto linux_part = oci.find("linux");
  if (linux_part != oci.end()) ZUNVM_RETURN_IF_ERROR(ApplyLinux(*linux_part, s));
  s.security.privileged = !s.security.standard_devices_only && !s.security.seccomp;
  // The guest's virtio ports stay hidden from every unprivileged container (security.h).
  if (!s.security.privileged) s.security.masked_paths.push_back("/sys/class/virtio-ports");
  return Status::Ok();
}

}  // namespace zunvm::agent
