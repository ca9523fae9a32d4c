// driver/oci/oci_spec.h: the config.json of a container, and the one description of Docker's
// defaults (common/docker_defaults.h) that it shares with the guest agent.
#include <gtest/gtest.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/guest/seccomp_profile.h"
#include "agent/guest/security.h"
#include "common/docker_defaults.h"
#include "driver/oci/oci_spec.h"

namespace zunvm {
namespace {

using nlohmann::json;

SandboxSpec Container() {
  SandboxSpec s;
  s.uuid = "0b0e2a4c-1111-4222-8333-944445555666";
  s.name = "web";
  s.image = "busybox:latest";
  s.argv = {"sh", "-c", "echo hi"};
  s.hostname = "web-host";
  return s;
}

json Build(const SandboxSpec& s, const oci::OciSpecOptions& o = {}) {
  auto spec = oci::BuildOciSpec(s, o);
  EXPECT_TRUE(spec) << spec.error().message();
  return spec ? *spec : json();
}

std::vector<std::string> Prefixed(std::span<const char* const> names) {
  std::vector<std::string> out;
  for (const char* n : names) out.push_back(std::string("CAP_") + n);
  return out;
}

std::vector<std::string> Strings(std::span<const char* const> list) { return {list.begin(), list.end()}; }

const json* MountAt(const json& spec, const std::string& destination) {
  for (const auto& m : spec["mounts"]) {
    if (m["destination"] == destination) return &m;
  }
  return nullptr;
}

bool Has(const json& list, const std::string& item) {
  for (const auto& x : list) {
    if (x == item) return true;
  }
  return false;
}

TEST(OciSpec, DefaultContainerHasDockersDefaults) {
  json spec = Build(Container());
  EXPECT_EQ(spec["ociVersion"], "1.0.2");
  EXPECT_EQ(spec["hostname"], "web-host");
  EXPECT_EQ(spec["root"], json({{"path", "rootfs"}, {"readonly", false}}));
  const json& p = spec["process"];
  EXPECT_EQ(p["args"], json({"sh", "-c", "echo hi"}));
  EXPECT_EQ(p["cwd"], "/");
  EXPECT_EQ(p["terminal"], false);
  EXPECT_EQ(p["user"], json({{"uid", 0}, {"gid", 0}}));
  EXPECT_EQ(p["env"], json({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=web-host"}));
  EXPECT_EQ(p["noNewPrivileges"], true);
  EXPECT_EQ(p["rlimits"], json::parse(R"([{"type":"RLIMIT_NOFILE","hard":1048576,"soft":1048576}])"));
  const auto caps = Prefixed(docker::DefaultCapabilities());
  EXPECT_EQ(caps.size(), 14u);
  for (const char* set : {"bounding", "effective", "permitted"}) EXPECT_EQ(p["capabilities"][set], json(caps)) << set;
  EXPECT_FALSE(p["capabilities"].contains("ambient"));

  std::vector<std::string> destinations;
  for (const auto& m : spec["mounts"]) destinations.push_back(m["destination"]);
  EXPECT_EQ(destinations, (std::vector<std::string>{"/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup",
                                                    "/dev/mqueue", "/dev/shm"}));
  EXPECT_TRUE(Has((*MountAt(spec, "/sys"))["options"], "ro"));
  EXPECT_TRUE(Has((*MountAt(spec, "/sys/fs/cgroup"))["options"], "ro"));
  EXPECT_TRUE(Has((*MountAt(spec, "/dev/pts"))["options"], "newinstance"));

  const json& lx = spec["linux"];
  std::vector<std::string> ns;
  for (const auto& n : lx["namespaces"]) {
    ns.push_back(n["type"]);
    EXPECT_FALSE(n.contains("path")) << n;
  }
  EXPECT_EQ(ns, (std::vector<std::string>{"pid", "ipc", "uts", "mount", "network", "cgroup"}));
  EXPECT_FALSE(lx.contains("cgroupsPath"));
  EXPECT_EQ(lx["resources"]["cpu"], json({{"quota", 100000}, {"period", 100000}}));
  EXPECT_EQ(lx["resources"]["memory"], json({{"limit", 512LL << 20}}));
  EXPECT_EQ(lx["resources"]["devices"], json::parse(R"([{"allow":false,"access":"rwm"}])"));
  EXPECT_EQ(lx["seccomp"], oci::DefaultSeccomp());
  EXPECT_EQ(lx["maskedPaths"], json(Strings(docker::MaskedPaths())));
  EXPECT_EQ(lx["readonlyPaths"], json(Strings(docker::ReadonlyPaths())));
  EXPECT_TRUE(Has(lx["maskedPaths"], "/proc/kcore"));
  EXPECT_TRUE(Has(lx["readonlyPaths"], "/proc/sys"));

  EXPECT_EQ(spec["annotations"], json({{"io.zunvm.container.uuid", "0b0e2a4c-1111-4222-8333-944445555666"},
                                       {"io.zunvm.container.name", "web"},
                                       {"io.zunvm.image", "busybox:latest"}}));
}

TEST(OciSpec, PrivilegedContainerHasEverything) {
  SandboxSpec s = Container();
  s.privileged = true;
  json spec = Build(s);
  const json& p = spec["process"];
  EXPECT_EQ(p["noNewPrivileges"], false);
  std::vector<std::string> all;
  for (const auto& c : docker::Capabilities()) all.push_back(std::string("CAP_") + c.name);
  for (const char* set : {"bounding", "effective", "permitted"}) EXPECT_EQ(p["capabilities"][set], json(all)) << set;
  EXPECT_TRUE(Has(p["capabilities"]["bounding"], "CAP_SYS_ADMIN"));
  EXPECT_TRUE(Has(p["capabilities"]["bounding"], "CAP_CHECKPOINT_RESTORE"));
  EXPECT_FALSE(spec["linux"].contains("seccomp"));
  EXPECT_FALSE(spec["linux"].contains("maskedPaths"));
  EXPECT_FALSE(spec["linux"].contains("readonlyPaths"));
  EXPECT_TRUE(Has((*MountAt(spec, "/sys"))["options"], "rw"));
  EXPECT_FALSE(Has((*MountAt(spec, "/sys"))["options"], "ro"));
  EXPECT_EQ(spec["linux"]["resources"]["devices"], json::parse(R"([{"allow":true,"access":"rwm"}])"));
}

TEST(OciSpec, CapabilitiesAreLimitedToWhatTheRuntimeCanGrant) {
  SandboxSpec s = Container();
  s.privileged = true;
  oci::OciSpecOptions o;
  o.grantable_capabilities = 0x1fffeffffffULL;  // a host that withholds CAP_SYS_RESOURCE (24)
  json caps = Build(s, o)["process"]["capabilities"]["effective"];
  EXPECT_EQ(caps.size(), docker::Capabilities().size() - 1);
  EXPECT_FALSE(Has(caps, "CAP_SYS_RESOURCE"));
  s.privileged = false;
  o.grantable_capabilities = ~(uint64_t{1} << 29);  // without CAP_AUDIT_WRITE
  caps = Build(s, o)["process"]["capabilities"]["bounding"];
  EXPECT_EQ(caps.size(), 13u);
  EXPECT_FALSE(Has(caps, "CAP_AUDIT_WRITE"));
  EXPECT_EQ(caps[0], "CAP_CHOWN");  // Docker's order
}

TEST(OciSpec, EnvUserCwdAndTty) {
  SandboxSpec s = Container();
  s.env = {{"PATH", "/opt/bin"}, {"A", "1=2"}, {"HOSTNAME", "mine"}};
  s.workdir = "/srv";
  s.tty = true;
  s.user = "1000";
  json spec = Build(s);
  const json& p = spec["process"];
  EXPECT_EQ(p["env"], json({"TERM=xterm", "A=1=2", "HOSTNAME=mine", "PATH=/opt/bin"}));
  EXPECT_EQ(p["cwd"], "/srv");
  EXPECT_EQ(p["terminal"], true);
  EXPECT_EQ(p["user"], json({{"uid", 1000}, {"gid", 1000}}));

  s.env = {{"TERM", "vt100"}};
  EXPECT_EQ(Build(s)["process"]["env"][2], "TERM=vt100");
  EXPECT_EQ(Build(s)["process"]["env"].size(), 3u);

  s.user = "1000:50";
  EXPECT_EQ(Build(s)["process"]["user"], json({{"uid", 1000}, {"gid", 50}}));
  s.user = "root";
  EXPECT_EQ(Build(s)["process"]["user"], json({{"uid", 0}, {"gid", 0}}));
  s.user = "nobody";  // a name: only with what the caller resolved
  auto refused = oci::BuildOciSpec(s, {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Code::kInvalidArgument);
  oci::OciSpecOptions resolved;
  resolved.uid = 65534;
  resolved.gid = 65533;
  EXPECT_EQ(Build(s, resolved)["process"]["user"], json({{"uid", 65534}, {"gid", 65533}}));
  s.user = "-1";
  EXPECT_FALSE(oci::BuildOciSpec(s, {}));

  s = Container();
  s.workdir = "relative";
  EXPECT_EQ(oci::BuildOciSpec(s, {}).error().code(), Code::kInvalidArgument);
  s = Container();
  s.argv.clear();
  EXPECT_EQ(oci::BuildOciSpec(s, {}).error().code(), Code::kInvalidArgument);
  s = Container();
  s.members.push_back(Container());
  EXPECT_EQ(oci::BuildOciSpec(s, {}).error().code(), Code::kInvalidArgument);
  s = Container();
  s.hostname = std::string(80, 'h');
  EXPECT_EQ(Build(s)["hostname"], std::string(63, 'h'));
}

TEST(OciSpec, ResourcesAndHostOptions) {
  SandboxSpec s = Container();
  s.cpu = 0.5;
  s.memory_mib = 64;
  oci::OciSpecOptions o;
  o.root_path = "/var/lib/zunvm/rootfs/x";
  o.root_readonly = true;
  o.cgroups_path = "/zunvm/x";
  o.netns_path = "/var/run/netns/zunvm-1";
  o.nofile = 4096;
  json spec = Build(s, o);
  EXPECT_EQ(spec["root"], json({{"path", "/var/lib/zunvm/rootfs/x"}, {"readonly", true}}));
  EXPECT_EQ(spec["linux"]["cgroupsPath"], "/zunvm/x");
  EXPECT_EQ(spec["linux"]["resources"]["cpu"], json({{"quota", 50000}, {"period", 100000}}));
  EXPECT_EQ(spec["linux"]["resources"]["memory"]["limit"], 67108864);
  EXPECT_EQ(spec["process"]["rlimits"][0]["hard"], 4096);
  EXPECT_EQ(spec["process"]["rlimits"][0]["soft"], 4096);
  bool joined = false;
  for (const auto& n : spec["linux"]["namespaces"]) {
    if (n["type"] == "network") joined = n.value("path", "") == "/var/run/netns/zunvm-1";
  }
  EXPECT_TRUE(joined);
  s.cpu = 2.25;
  EXPECT_EQ(Build(s, o)["linux"]["resources"]["cpu"]["quota"], 225000);
}

TEST(OciSpec, VolumesAreBindMountsOfTheirSources) {
  SandboxSpec s = Container();
  s.volumes = {{"/var/lib/zunvm/volumes/a.img", false, "vol-a", "ext4", "/data", false},
               {"/var/lib/zunvm/volumes/b.img", false, "vol-b", "ext4", "/conf", true}};
  oci::OciSpecOptions o;
  o.volume_sources = {"/mnt/a", "/mnt/b"};
  json spec = Build(s, o);
  EXPECT_EQ(*MountAt(spec, "/data"), json::parse(R"({"destination":"/data","type":"bind","source":"/mnt/a",
                                                      "options":["rbind","rprivate","rw"]})"));
  EXPECT_EQ((*MountAt(spec, "/conf"))["options"], json({"rbind", "rprivate", "ro"}));
  o.volume_sources.pop_back();  // never a container without its volume
  EXPECT_EQ(oci::BuildOciSpec(s, o).error().code(), Code::kInvalidArgument);
  o.volume_sources = {"/mnt/a", "/mnt/b"};
  s.volumes[0].destination = "data";
  EXPECT_EQ(oci::BuildOciSpec(s, o).error().code(), Code::kInvalidArgument);
}

TEST(OciSeccomp, AllowListAndConditionalRules) {
  const json& sc = oci::DefaultSeccomp();
  EXPECT_EQ(sc["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(sc["defaultErrnoRet"], 1);
  EXPECT_EQ(sc["architectures"], json({"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  const json& allow = sc["syscalls"][0];
  EXPECT_EQ(allow["action"], "SCMP_ACT_ALLOW");
  EXPECT_FALSE(allow.contains("args"));
  std::set<std::string> names = allow["names"].get<std::set<std::string>>();
  EXPECT_GT(names.size(), 300u);
  for (const char* n : {"read", "write", "openat", "execve", "exit_group", "wait4", "ptrace", "socketpair",
                        "_llseek", "socketcall"}) {  // the last two: x86 only
    EXPECT_TRUE(names.count(n)) << n;
  }
  for (const auto& d : docker::DeniedSyscalls()) EXPECT_FALSE(names.count(d.name)) << d.name;
  for (const char* n : {"mount", "kexec_load", "add_key", "unshare", "clone", "socket", "personality"}) {
    EXPECT_FALSE(names.count(n)) << n;
  }

  // The conditional rules, one per alternative.
  std::multimap<std::string, json> rules;
  for (size_t i = 1; i < sc["syscalls"].size(); ++i) {
    const json& r = sc["syscalls"][i];
    ASSERT_EQ(r["names"].size(), 1u) << r;
    rules.emplace(r["names"][0], r);
  }
  ASSERT_EQ(rules.count("clone"), 1u);
  EXPECT_EQ(rules.find("clone")->second, json::parse(R"({"names":["clone"],"action":"SCMP_ACT_ALLOW",
      "args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]})"));
  ASSERT_EQ(rules.count("clone3"), 1u);
  EXPECT_EQ(rules.find("clone3")->second, json::parse(R"({"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38})"));
  std::set<uint64_t> personas;
  for (auto [it, end] = rules.equal_range("personality"); it != end; ++it) {
    EXPECT_EQ(it->second["args"][0]["op"], "SCMP_CMP_EQ");
    personas.insert(it->second["args"][0]["value"].get<uint64_t>());
  }
  EXPECT_EQ(personas, (std::set<uint64_t>{0x0, 0x8, 0x20000, 0x20008, 0xffffffff}));
  ASSERT_EQ(rules.count("socket"), 1u);
  EXPECT_EQ(rules.find("socket")->second["args"], json::parse(R"([{"index":0,"value":40,"valueTwo":0,"op":"SCMP_CMP_NE"}])"));
  EXPECT_EQ(rules.size(), docker::ConditionalSyscalls().size());
}

// What a runtime does with linux.seccomp (libseccomp, rules in the spec's order), exported as BPF.
std::vector<sock_filter> CompileLikeARuntime(const json& sc) {
  struct Release {
    void operator()(void* ctx) const { seccomp_release(ctx); }
  };
  std::unique_ptr<void, Release> ctx(seccomp_init(SCMP_ACT_ERRNO(sc["defaultErrnoRet"].get<uint32_t>())));
  (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
  const std::map<std::string, std::string> arches = {
      {"SCMP_ARCH_X86_64", "x86_64"}, {"SCMP_ARCH_X86", "x86"}, {"SCMP_ARCH_X32", "x32"}};
  for (const auto& a : sc["architectures"]) {
    int rc = seccomp_arch_add(ctx.get(), seccomp_arch_resolve_name(arches.at(a.get<std::string>()).c_str()));
    EXPECT_TRUE(rc == 0 || rc == -EEXIST) << a;
  }
  const std::map<std::string, scmp_compare> ops = {
      {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
  for (const auto& r : sc["syscalls"]) {
    uint32_t action = r["action"] == "SCMP_ACT_ALLOW" ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(r["errnoRet"].get<uint32_t>());
    std::vector<scmp_arg_cmp> args;
    for (const auto& a : r.value("args", json::array())) {
      args.push_back({a["index"].get<unsigned>(), ops.at(a["op"]), a["value"].get<uint64_t>(), a["valueTwo"].get<uint64_t>()});
    }
    for (const auto& n : r["names"]) {
      int nr = seccomp_syscall_resolve_name(n.get<std::string>().c_str());
      if (nr == __NR_SCMP_ERROR) continue;
      (void)seccomp_rule_add_array(ctx.get(), action, nr, static_cast<unsigned>(args.size()), args.data());
    }
  }
  int fd = ::memfd_create("oci-seccomp", MFD_CLOEXEC);
  EXPECT_EQ(seccomp_export_bpf(ctx.get(), fd), 0);
  std::vector<sock_filter> prog(static_cast<size_t>(::lseek(fd, 0, SEEK_END)) / sizeof(sock_filter));
  EXPECT_EQ(::pread(fd, prog.data(), prog.size() * sizeof(sock_filter), 0),
            static_cast<ssize_t>(prog.size() * sizeof(sock_filter)));
  ::close(fd);
  return prog;
}

// The spec's profile, compiled as a runtime would, is the agent's own filter instruction for
// instruction: a container under runc/crun is refused exactly what one in a VM is.
TEST(OciSeccomp, CompilesToTheAgentsFilter) {
  auto agent = agent::BuildDefaultFilter();
  ASSERT_TRUE(agent) << agent.error().message();
  auto spec = CompileLikeARuntime(oci::DefaultSeccomp());
  ASSERT_EQ(spec.size(), agent->size());
  EXPECT_EQ(std::memcmp(spec.data(), agent->data(), spec.size() * sizeof(sock_filter)), 0);
}

// One description of Docker's defaults: the agent's security settings and the spec read the
// same static tables of common/docker_defaults.
TEST(DockerDefaultsSecurity, AgentAndSpecShareTheLists) {
  EXPECT_EQ(docker::DefaultCapabilities().data(), docker::DefaultCapabilities().data());
  EXPECT_EQ(docker::DeniedSyscalls().data(), docker::DeniedSyscalls().data());

  agent::ContainerSecurity sec = agent::DockerDefaults(false);
  std::vector<int> caps;
  for (const char* n : docker::DefaultCapabilities()) caps.push_back(agent::CapabilityByName(n));
  EXPECT_EQ(sec.capabilities, caps);
  EXPECT_EQ(agent::CapabilityMask(sec.capabilities), 0xa80425fbu);  // CapEff of a Docker container
  std::vector<std::string> masked = Strings(docker::MaskedPaths());
  masked.push_back("/sys/class/virtio-ports");  // the guest's own addition
  EXPECT_EQ(sec.masked_paths, masked);
  EXPECT_EQ(sec.readonly_paths, Strings(docker::ReadonlyPaths()));
  EXPECT_TRUE(sec.seccomp);
  EXPECT_TRUE(sec.no_new_privileges);

  json spec = Build(Container());
  EXPECT_EQ(spec["process"]["capabilities"]["bounding"], json(Prefixed(docker::DefaultCapabilities())));
  EXPECT_EQ(spec["linux"]["maskedPaths"], json(Strings(docker::MaskedPaths())));

  agent::ContainerSecurity all = agent::DockerDefaults(true);
  EXPECT_EQ(all.capabilities.size(), docker::Capabilities().size());
  EXPECT_TRUE(all.masked_paths.empty());
  EXPECT_FALSE(all.seccomp);
}

TEST(DockerDefaultsSecurity, CapabilityTable) {
  std::set<std::string> names;
  for (size_t i = 0; i < docker::Capabilities().size(); ++i) {
    const auto& c = docker::Capabilities()[i];
    EXPECT_EQ(c.number, static_cast<int>(i));
    EXPECT_TRUE(names.insert(c.name).second) << c.name;
    EXPECT_EQ(agent::CapabilityByName(std::string("CAP_") + c.name), c.number);
  }
  EXPECT_EQ(agent::CapabilityByName("chown"), 0);
  EXPECT_EQ(agent::CapabilityByName("CAP_SYS_ADMIN"), 21);
  EXPECT_EQ(agent::CapabilityByName("sys_admin"), 21);
  EXPECT_EQ(agent::CapabilityByName("CAP_NOPE"), -1);
  for (const char* n : docker::DefaultCapabilities()) EXPECT_GE(agent::CapabilityByName(n), 0) << n;
}

}  // namespace
}  // namespace zunvm
