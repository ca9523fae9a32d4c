// Containers inside the guest: a process tree in its own pid, mount, uts and ipc namespaces,
// rooted (pivot_root) in a root filesystem the host shared in, with /proc, /sys, /dev,
// /dev/pts, /dev/shm, /etc/hosts, /etc/resolv.conf and its hostname set up, its user, working
// directory, environment and rlimits applied, and optional cgroup v2 cpu/memory limits.
//
// Create clones the container's init process, which prepares everything and then waits on a
// pipe; Start releases it into execve. Exec enters the namespaces of a created container.
// Thread safety: none (the agent is single-threaded).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/guest/security.h"
#include "agent/protocol/ops.h"
#include "common/status.h"

namespace zunvm::agent {

struct ContainerSpec {
  std::string id;
  std::string rootfs;                 // directory holding the container's root
  std::vector<std::string> argv;
  std::vector<std::string> env;       // KEY=VALUE
  std::string cwd = "/";
  uid_t uid = 0;
  gid_t gid = 0;
  std::string hostname;
  std::string hosts;                  // /etc/hosts content ("" keeps the image's)
  std::string resolv_conf;            // /etc/resolv.conf content ("" keeps the image's)
  std::map<std::string, uint64_t> rlimits;  // "nofile", "nproc", "core"...
  std::optional<int64_t> memory_bytes;
  std::optional<double> cpus;
  // The parent cgroup: the container gets <cgroup_root>/<id> (limits, OOM events). Empty: no
  // cgroup (host-side tests). Set by the agent itself, never taken from the host.
  std::string cgroup_root;
  // Docker's default privileges, or all of them with `privileged` (security.h).
  ContainerSecurity security;
  // The compiled seccomp filter (the agent's, built once); required when security.seccomp.
  const std::vector<sock_filter>* seccomp = nullptr;
  // A tty container: the devpts instance the agent made its pty in (the init's stdio is that
  // pty's slave). It becomes the container's /dev/pts and the pty its controlling terminal, as
  // with `docker run -t`. Empty: the container gets a new devpts instance.
  std::string devpts;
  // Volumes: `source` (a guest directory) bound onto `target` (a directory under `rootfs`,
  // already made and resolved inside it), read-only when asked.
  struct Bind {
    std::string source, target;
    bool readonly = false;
  };
  std::vector<Bind> binds;
};

// The rlimits the agent sets, by lower-case name without RLIMIT_ ("nofile").
const std::map<std::string, int>& RlimitNames();

// The container of a create_container request rooted in `rootfs` (its directory, or where its
// disks were mounted). InvalidArgument names the field.
Result<ContainerSpec> ContainerSpecFrom(const op::CreateContainer::Request& request, const std::string& rootfs);

struct StdioFds {
  int in = -1, out = -1, err = -1;    // child ends (dup'ed onto 0, 1, 2)
};

// Clones the container init (stopped before execve). Returns its pid (in the agent's pid
// namespace) and the write end of its start pipe.
Result<std::pair<pid_t, int>> CreateContainerProcess(const ContainerSpec& spec, const StdioFds& fds);
// Forks a process inside the namespaces of the container whose init is `init_pid`, with the
// container's privileges `sec` (and seccomp program `prog`, when sec.seccomp).
Result<pid_t> ExecInContainer(pid_t init_pid, const std::vector<std::string>& argv,
                              const std::vector<std::string>& env, const std::string& cwd,
                              const StdioFds& fds, bool new_session_tty, const ContainerSecurity& sec,
                              const std::vector<sock_filter>* prog);
// Writes one cgroup control file (cgroup.procs, memory.max...).
Status WriteCgroup(const std::string& path, const std::string& value);
// Freezes (or thaws) every process of a container cgroup with cgroup v2's cgroup.freeze and
// waits until cgroup.events reports it, at most `timeout`; a freeze that does not complete is
// undone and is Unavailable. This is how a container is paused: the guest keeps running.
Status FreezeCgroup(const std::string& cgroup_dir, bool frozen, std::chrono::milliseconds timeout);
// cgroup v2 limits for an existing container cgroup; live.
Status UpdateLimits(const std::string& cgroup_dir, std::optional<int64_t> memory_bytes,
                    std::optional<double> cpus);

}  // namespace zunvm::agent
