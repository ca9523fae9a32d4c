// The OCI runtime-spec (1.0.x) config.json of a container, for running it as host processes
// under runc or crun. It gives the container what the guest agent gives one inside a VM:
// Docker's default privileges (common/docker_defaults.h) or, privileged, everything.
//
// Thread safety: pure functions, callable from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "driver/driver.h"

namespace zunvm::oci {

// What the spec cannot know from the SandboxSpec: where things are on this host.
struct OciSpecOptions {
  std::string root_path = "rootfs";  // root.path: relative to the bundle, or absolute
  bool root_readonly = false;
  std::string cgroups_path;          // linux.cgroupsPath; empty: omitted (the runtime's choice)
  std::string netns_path;            // a network namespace to join; empty: a new one
  // The user when the caller resolved it (e.g. a name from the image's /etc/passwd); unset:
  // taken from SandboxSpec::user, which must then be numeric ("uid[:gid]") or root.
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  // The host directory bound at SandboxSpec::volumes[i]'s destination (a disk the caller
  // mounted, or a directory). Every volume needs one.
  std::vector<std::string> volume_sources;
  // RLIMIT_NOFILE, soft and hard (Docker's default). A runtime without CAP_SYS_RESOURCE cannot
  // raise it above its own hard limit.
  uint64_t nofile = 1048576;
  // The capabilities the runtime can grant (a bit per number, as CapEff in /proc/self/status
  // shows them): the container's sets are limited to them, since asking for more fails the
  // start (capset: EPERM). A privileged container gets all of them. Default: every one.
  uint64_t grantable_capabilities = ~uint64_t{0};
};

inline constexpr const char kOciVersion[] = "1.0.2";
inline constexpr const char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// The config.json of `s`, a container (not a pod). InvalidArgument for a pod, an empty argv, a
// user name without options.uid, a relative workdir or volume destination, or a volume without
// its source.
Result<nlohmann::json> BuildOciSpec(const SandboxSpec& s, const OciSpecOptions& o);

// linux.seccomp of a default container: Docker's default profile as the agent applies it
// (deny with EPERM; allow every call libseccomp knows for x86_64/x86 except the denied table;
// the argument-conditional rules). Built once (libseccomp's names), then shared.
const nlohmann::json& DefaultSeccomp();

}  // namespace zunvm::oci
