#include "driver/oci/oci_spec.h"

#include <seccomp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <span>
#include <string_view>

#include "common/docker_defaults.h"
#include "common/strings.h"

namespace zunvm::oci {

using nlohmann::json;

namespace {

// "", "root", "root:root", "uid" or "uid:gid" (a lone uid is also the gid, as the libvirt
// driver reads it). A name needs the image's /etc/passwd: the caller resolves it.
Result<std::pair<uint32_t, uint32_t>> ProcessUser(const std::string& user, const OciSpecOptions& o) {
  if (o.uid) return std::pair{*o.uid, o.gid.value_or(*o.uid)};
  if (user.empty() || user == "root" || user == "root:root") return std::pair{0u, 0u};
  auto colon = user.find(':');
  auto u = ParseInt(user.substr(0, colon));
  auto g = colon == std::string::npos ? u : ParseInt(user.substr(colon + 1));
  if (!u || !g || *u < 0 || *g < 0 || *u > 0x7fffffff || *g > 0x7fffffff) {
    return Err(Status::Invalid("user " + user + " is not numeric (uid[:gid]) and was not resolved"));
  }
  return std::pair{static_cast<uint32_t>(*u), static_cast<uint32_t>(*g)};
}

// Docker's: PATH, HOSTNAME and (with a tty) TERM unless the container sets them, then its own.
json Env(const SandboxSpec& s, const std::string& hostname) {
  json env = json::array();
  if (!s.env.count("PATH")) env.push_back(std::string("PATH=") + kDefaultPath);
  if (!s.env.count("HOSTNAME") && !hostname.empty()) env.push_back("HOSTNAME=" + hostname);
  if (s.tty && !s.env.count("TERM")) env.push_back("TERM=xterm");
  for (const auto& [k, v] : s.env) env.push_back(k + "=" + v);
  return env;
}

// Docker's set (in its order) or, privileged, every capability; either limited to `grantable`.
json Capabilities(bool privileged, uint64_t grantable) {
  std::vector<docker::Capability> wanted;
  const auto all = docker::Capabilities();
  if (privileged) {
    wanted.assign(all.begin(), all.end());
  } else {
    for (const char* name : docker::DefaultCapabilities()) {
      auto c = std::find_if(all.begin(), all.end(), [&](const auto& x) { return std::string_view(x.name) == name; });
      if (c != all.end()) wanted.push_back(*c);
    }
  }
  json caps = json::array();
  for (const auto& c : wanted) {
    if ((grantable >> c.number) & 1) caps.push_back(std::string("CAP_") + c.name);
  }
  return {{"bounding", caps}, {"effective", caps}, {"permitted", caps}};
}

json Mount(const char* destination, const char* type, const char* source, std::vector<std::string> options) {
  return {{"destination", destination}, {"type", type}, {"source", source}, {"options", std::move(options)}};
}

// Docker's default mounts (moby's oci/defaults.go); /sys and its cgroups writable only when
// privileged.
json DefaultMounts(bool privileged) {
  const char* sys_mode = privileged ? "rw" : "ro";
  return json::array({
      Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      Mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      Mount("/dev/pts", "devpts", "devpts", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", sys_mode}),
      Mount("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", sys_mode}),
      Mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      Mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
  });
}

Result<json> Mounts(const SandboxSpec& s, const OciSpecOptions& o) {
  json mounts = DefaultMounts(s.privileged);
  for (size_t i = 0; i < s.volumes.size(); ++i) {
    const SandboxVolume& v = s.volumes[i];
    if (v.destination.empty() || v.destination.front() != '/') {
      return Err(Status::Invalid("volume " + v.serial + ": destination " + v.destination + " is not absolute"));
    }
    if (i >= o.volume_sources.size() || o.volume_sources[i].empty()) {
      return Err(Status::Invalid("volume " + v.serial + " at " + v.destination + " has no host directory"));
    }
    mounts.push_back({{"destination", v.destination},
                      {"type", "bind"},
                      {"source", o.volume_sources[i]},
                      {"options", {"rbind", "rprivate", v.read_only ? "ro" : "rw"}}});
  }
  return mounts;
}

json Namespaces(const OciSpecOptions& o) {
  json ns = json::array();
  for (const char* type : {"pid", "ipc", "uts", "mount"}) ns.push_back({{"type", type}});
  json net{{"type", "network"}};
  if (!o.netns_path.empty()) net["path"] = o.netns_path;
  ns.push_back(net);
  ns.push_back({{"type", "cgroup"}});
  return ns;
}

json Resources(const SandboxSpec& s) {
  constexpr uint64_t kPeriod = 100000;
  json r{{"devices", json::array({{{"allow", s.privileged}, {"access", "rwm"}}})}};
  if (s.cpu > 0) r["cpu"] = {{"quota", std::llround(s.cpu * kPeriod)}, {"period", kPeriod}};
  if (s.memory_mib > 0) r["memory"] = {{"limit", s.memory_mib * 1024 * 1024}};
  return r;
}

const char* OpName(docker::ArgOp op) {
  switch (op) {
    case docker::ArgOp::kEqual: return "SCMP_CMP_EQ";
    case docker::ArgOp::kNotEqual: return "SCMP_CMP_NE";
    case docker::ArgOp::kMaskedEqual: return "SCMP_CMP_MASKED_EQ";
  }
  return "SCMP_CMP_EQ";
}

// Every name libseccomp knows for the ABIs whose names are allowed, minus the denied table.
std::set<std::string> AllowedNames() {
  std::set<std::string> names;
  for (const auto& arch : docker::SeccompArchitectures()) {
    if (!arch.names_known) continue;
    uint32_t token = seccomp_arch_resolve_name(arch.libseccomp_name);
    for (int nr = 0; token != 0 && nr < 1024; ++nr) {
      if (char* name = seccomp_syscall_resolve_num_arch(token, nr)) {
        names.insert(name);
        std::free(name);
      }
    }
  }
  for (const auto& d : docker::DeniedSyscalls()) names.erase(d.name);
  return names;
}

json BuildSeccomp() {
  json arches = json::array();
  for (const auto& arch : docker::SeccompArchitectures()) arches.push_back(arch.oci_name);
  json rules = json::array({{{"names", AllowedNames()}, {"action", "SCMP_ACT_ALLOW"}}});
  for (const auto& c : docker::ConditionalSyscalls()) {
    json rule{{"names", json::array({c.name})}, {"action", c.errno_ret == 0 ? "SCMP_ACT_ALLOW" : "SCMP_ACT_ERRNO"}};
    if (c.errno_ret != 0) rule["errnoRet"] = c.errno_ret;
    if (c.arg) {
      rule["args"] = json::array(
          {{{"index", c.arg->index}, {"value", c.arg->value}, {"valueTwo", c.arg->value_two}, {"op", OpName(c.arg->op)}}});
    }
    rules.push_back(std::move(rule));
  }
  return {{"defaultAction", "SCMP_ACT_ERRNO"},
          {"defaultErrnoRet", docker::kSeccompDefaultErrno},
          {"architectures", std::move(arches)},
          {"syscalls", std::move(rules)}};
}

json Strings(std::span<const char* const> list) { return json(std::vector<std::string>(list.begin(), list.end())); }

}  // namespace

const json& DefaultSeccomp() {
  static const json seccomp = BuildSeccomp();  // thread-safe initialisation
  return seccomp;
}

Result<json> BuildOciSpec(const SandboxSpec& s, const OciSpecOptions& o) {
  if (!s.members.empty()) return Err(Status::Invalid("a pod has no config.json of its own: build one per member"));
  if (s.argv.empty()) return Err(Status::Invalid("the container has no command"));
  const std::string cwd = s.workdir.empty() ? "/" : s.workdir;
  if (cwd.front() != '/') return Err(Status::Invalid("workdir " + cwd + " is not absolute"));
  auto user = ProcessUser(s.user, o);
  if (!user) return Err(user.error());
  auto mounts = Mounts(s, o);
  if (!mounts) return Err(mounts.error());
  const std::string hostname = s.hostname.substr(0, 63);

  json process{{"terminal", s.tty},
               {"user", {{"uid", user->first}, {"gid", user->second}}},
               {"args", s.argv},
               {"env", Env(s, hostname)},
               {"cwd", cwd},
               {"capabilities", Capabilities(s.privileged, o.grantable_capabilities)},
               {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", o.nofile}, {"soft", o.nofile}}})},
               {"noNewPrivileges", !s.privileged}};
  json linux_part{{"namespaces", Namespaces(o)}, {"resources", Resources(s)}};
  if (!o.cgroups_path.empty()) linux_part["cgroupsPath"] = o.cgroups_path;
  if (!s.privileged) {
    linux_part["seccomp"] = DefaultSeccomp();
    linux_part["maskedPaths"] = Strings(docker::MaskedPaths());
    linux_part["readonlyPaths"] = Strings(docker::ReadonlyPaths());
  }
  json annotations{{"io.zunvm.container.uuid", s.uuid}};
  if (!s.name.empty()) annotations["io.zunvm.container.name"] = s.name;
  if (!s.image.empty()) annotations["io.zunvm.image"] = s.image;

  json spec{{"ociVersion", kOciVersion},
            {"process", std::move(process)},
            {"root", {{"path", o.root_path}, {"readonly", o.root_readonly}}},
            {"mounts", std::move(*mounts)},
            {"linux", std::move(linux_part)},
            {"annotations", std::move(annotations)}};
  if (!hostname.empty()) spec["hostname"] = hostname;
  return spec;
}

}  // namespace zunvm::oci
