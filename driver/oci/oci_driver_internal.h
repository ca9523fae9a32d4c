// Internal to the OCI driver (oci_driver.cc, oci_watch.cc, oci_inside.cc): the per-sandbox
// state and the small helpers its files share.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/durable_file.h"
#include "common/fs_at.h"
#include "common/ipv4.h"
#include "driver/oci/oci_driver.h"
#include "driver/oci/oci_spec.h"

namespace zunvm::oci {

// An interactive process (ExecInteractive): its runtime exec and our end of its stdio.
struct ConsoleProcess {
  std::mutex mu;         // in, io's writes
  pid_t pid = -1;
  bool tty = false;
  fsat::UniqueFd io;     // tty: the pty master; else the output pipe (read by its thread only)
  fsat::UniqueFd in;     // without a tty: stdin's pipe (closed by CloseStdin)
  std::string spec;
};

struct OciDriver::Box {
  std::string uuid;
  std::string dir;
  std::mutex op;  // one life-cycle call at a time; taken before mu, never by the watcher

  std::mutex mu;  // the fields below
  std::condition_variable cv;  // wakes the watcher (quiet, shutdown)
  OciRecord rec;
  bool quiet = false;     // the run is being ended by Stop/Delete: no OnExit for it
  bool shutdown = false;  // the driver is going away: the watcher ends where it is
  std::thread watcher;    // the current run's; joined only by holders of op (or the destructor)
  std::map<uint64_t, std::shared_ptr<ProcessSink>> sinks;  // Watch
  uint64_t next_sink = 1;
  std::map<std::string, std::shared_ptr<ConsoleProcess>> consoles;  // by process id
  uint64_t cpu_ns = 0;  // the last Stats sample
  std::chrono::steady_clock::time_point cpu_at;
};

// The container's network namespace as the runtime joins it, and its cgroup.
std::string NetnsPath(const std::string& uuid);
std::string CgroupsPath(const std::string& uuid);

// A container cgroup's figures (`path` as CgroupsPath gives it): cgroup v2 (unified at
// /sys/fs/cgroup, or the hybrid's /sys/fs/cgroup/unified, where the runtime puts the container
// too), and v1 for what v2 lacks. The processes in it (cgroup.procs), for their memory.
struct CgroupSample {
  std::optional<uint64_t> cpu_ns, mem_bytes;
  std::vector<pid_t> pids;
};
CgroupSample SampleCgroup(const std::string& path);

// Where a volume's disk is mounted on the host (rootfs.h MountVolume), and mounting all of the
// spec's there (idempotent).
std::string VolumeDir(const std::string& dir, const SandboxVolume& v);
Status MountVolumes(const std::string& dir, const SandboxSpec& spec);

// An exec's OCI process: the bundle's config.json's, so that it runs as the container's process
// does (user, env, cwd, capabilities, no_new_privileges, rlimits), with its own argv and, with a
// terminal, TERM=xterm unless the container sets TERM (as Docker does). InvalidArgument for an
// empty argv.
Result<nlohmann::json> ExecProcess(const std::string& dir, const std::vector<std::string>& argv, bool tty);

// The container's merged root (dir/rootfs) as a directory fd.
Result<fsat::UniqueFd> OpenRoot(const std::string& dir);

// RLIMIT_NOFILE for containers: Docker's 1048576, or less when zunvmd's own hard limit is lower
// and it cannot raise it (no CAP_SYS_RESOURCE): the runtime could not set more.
uint64_t NofileLimit();

// dir/etc/{hostname,hosts,resolv.conf} (bound over the image's) and the spec's injected files
// (written into the root, confined to it).
Status WriteFiles(const std::string& dir, const SandboxSpec& spec);

}  // namespace zunvm::oci
