// AgentServer, part 3: containers, their limits, pause and OOM events (server.h).
#include "agent/guest/server.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <sstream>

#include "agent/guest/disks.h"
#include "common/root_files.h"
#include "agent/guest/seccomp_profile.h"
#include "agent/guest/security.h"

namespace zunvm::agent {

namespace {

uint64_t ReadOomKills(int fd) {
  char buf[512];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  std::istringstream in(std::string(buf, static_cast<size_t>(n)));
  std::string key;
  uint64_t v = 0;
  while (in >> key >> v) {
    if (key == "oom_kill") return v;
  }
  return 0;
}

}  // namespace

Result<AgentServer::Container*> AgentServer::FindContainer(const std::string& id) {
  auto c = containers_.find(id);
  if (c == containers_.end()) return Err(Status::NotFound("no such container " + id));
  return &c->second;
}

Result<op::CreateContainer::Response> AgentServer::CreateContainer(const op::CreateContainer::Request& r) {
  if (containers_.count(r.id)) return Err(Status::Conflict("container " + r.id + " exists"));
  std::string rootfs = r.rootfs;
  bool disks = r.rootfs_disk.has_value();
  if (disks) {
    auto root = MountContainerDisks(r.id, *r.rootfs_disk, r.upper_disk, opts_.disks);
    if (!root) return Err(root.error());
    rootfs = *root;
  }
  auto unmount = [&] {
    if (disks) UnmountContainerDisks(r.id);
  };
  auto spec = ContainerSpecFrom(r, rootfs);
  if (!spec) {
    unmount();
    return Err(spec.error());
  }
  spec->cgroup_root = opts_.cgroup_root;  // the agent's own, never the host's
  if (Status st = PrepareVolumes(r, *spec); !st.ok()) {
    unmount();
    return Err(st);
  }
  if (spec->security.seccomp) {
    auto prog = SeccompProgram();
    if (!prog) {
      unmount();
      return Err(prog.error());
    }
    spec->seccomp = *prog;
  }
  // A tty container's pty comes from the devpts instance that becomes its /dev/pts, so the
  // init finds its terminal there (`tty`, /dev/tty). The agent's mount of it goes once the
  // child has its own (the mount namespace it was cloned with keeps the instance).
  std::string ptmx;
  if (r.tty) {
    spec->devpts = "/run/zunvm/pts/" + r.id;
    for (const char* d : {"/run/zunvm", "/run/zunvm/pts"}) ::mkdir(d, 0700);
    Status st = Status::Ok();
    if (::mkdir(spec->devpts.c_str(), 0700) != 0 && errno != EEXIST) {
      st = Status::Internal("mkdir " + spec->devpts + ": " + std::strerror(errno));
    } else if (::mount("devpts", spec->devpts.c_str(), "devpts", MS_NOSUID | MS_NOEXEC, kDevptsOptions) != 0) {
      st = Status::Internal("mount the container's devpts: " + std::string(std::strerror(errno)));
    }
    if (!st.ok()) {
      unmount();
      return Err(st);
    }
    ptmx = spec->devpts + "/ptmx";
  }
  int start_fd = -1;
  auto pid = Launch(spec->id, r.tty, r.stdin, [&](const StdioFds& fds) -> Result<pid_t> {
    auto created = CreateContainerProcess(*spec, fds);
    if (!created) return Err(created.error());
    start_fd = created->second;
    return created->first;
  }, ptmx);
  if (!spec->devpts.empty()) {
    (void)::umount2(spec->devpts.c_str(), MNT_DETACH);
    (void)::rmdir(spec->devpts.c_str());
  }
  if (!pid) {
    unmount();
    return Err(pid.error());
  }
  Container c;
  c.init = *pid;
  c.start_fd = start_fd;
  c.disks = disks;
  c.security = spec->security;
  if (!opts_.cgroup_root.empty()) {
    c.cgroup_dir = opts_.cgroup_root + "/" + r.id;
    c.events_fd = ::open((c.cgroup_dir + "/memory.events").c_str(), O_RDONLY | O_CLOEXEC);
    if (c.events_fd >= 0) c.oom_kills = ReadOomKills(c.events_fd);
  }
  containers_[r.id] = c;
  Log("container " + r.id + " created: init pid " + std::to_string(*pid));
  return op::CreateContainer::Response{*pid};
}

// Before the init is cloned, while no process of the container runs: the volume disks are
// mounted, their mount points made inside the root and the injected files written there.
Status AgentServer::PrepareVolumes(const op::CreateContainer::Request& r, ContainerSpec& spec) {
  if (r.volumes.empty() && r.files.empty()) return Status::Ok();
  auto dirs = MountVolumeDisks(r.volumes, opts_.disks);
  if (!dirs) return dirs.error();
  int root = ::open(spec.rootfs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return Status::Internal("open " + spec.rootfs + ": " + std::strerror(errno));
  Status st = Status::Ok();
  for (size_t i = 0; i < r.volumes.size() && st.ok(); ++i) {
    auto rel = rootfiles::MakeDirInRoot(root, r.volumes[i].destination);
    if (!rel) st = Status::Invalid("volume at " + r.volumes[i].destination + ": " + rel.error().message());
    else spec.binds.push_back({(*dirs)[i], spec.rootfs + "/" + *rel, r.volumes[i].disk.readonly || r.volumes[i].readonly});
  }
  for (size_t i = 0; i < r.files.size() && st.ok(); ++i) {
    st = rootfiles::WriteFileInRoot(root, r.files[i].destination, r.files[i].content);
    if (!st.ok()) st = Status::Invalid("file " + r.files[i].destination + ": " + st.message());
  }
  ::close(root);
  return st;
}

Result<const std::vector<sock_filter>*> AgentServer::SeccompProgram() {
  if (seccomp_prog_.empty()) {
    auto prog = BuildDefaultFilter();
    if (!prog) return Err(prog.error());
    seccomp_prog_ = std::move(*prog);
  }
  return &seccomp_prog_;
}

Result<op::Empty> AgentServer::StartContainer(const op::StartContainer::Request& r) {
  auto c = FindContainer(r.id);
  if (!c) return Err(c.error());
  if ((*c)->start_fd < 0) return Err(Status::Conflict("container " + r.id + " was started"));
  bool ok = ::write((*c)->start_fd, "g", 1) == 1;
  ::close((*c)->start_fd);
  (*c)->start_fd = -1;
  if (!ok) return Err(Status::Conflict("container " + r.id + " is gone"));
  return op::Empty{};
}

Result<op::Empty> AgentServer::Update(const op::Update::Request& r) {
  auto c = FindContainer(r.id);
  if (!c) return Err(c.error());
  if ((*c)->cgroup_dir.empty()) return Err(Status::Conflict("container " + r.id + " has no cgroup"));
  ZUNVM_RETURN_IF_ERROR(UpdateLimits((*c)->cgroup_dir, r.memory_bytes, r.cpus));
  return op::Empty{};
}

// Pause/unpause: the container's processes frozen, the guest (and this agent) running on.
Result<op::Empty> AgentServer::Freeze(const op::Freeze::Request& r) {
  auto c = FindContainer(r.id);
  if (!c) return Err(c.error());
  if ((*c)->cgroup_dir.empty()) return Err(Status::Conflict("container " + r.id + " has no cgroup"));
  ZUNVM_RETURN_IF_ERROR(FreezeCgroup((*c)->cgroup_dir, r.frozen, std::chrono::seconds(5)));
  return op::Empty{};
}

void AgentServer::CheckOom(const std::string& id, Container& c) {
  if (c.events_fd < 0) return;
  uint64_t kills = ReadOomKills(c.events_fd);
  if (kills <= c.oom_kills) return;
  c.oom_kills = kills;
  Log("container " + id + ": out of memory, a process was killed");
  Emit(op::OomEvent{id, kills, 0});
}

void AgentServer::RemoveContainer(const std::string& id) {
  auto c = containers_.find(id);
  if (c == containers_.end()) return;
  if (c->second.start_fd >= 0) ::close(c->second.start_fd);
  if (c->second.events_fd >= 0) ::close(c->second.events_fd);
  if (!c->second.cgroup_dir.empty()) ::rmdir(c->second.cgroup_dir.c_str());
  if (c->second.disks) UnmountContainerDisks(id);
  containers_.erase(c);
}

}  // namespace zunvm::agent
