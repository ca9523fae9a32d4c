#include "agent/guest/container.h"

#include "agent/guest/oci_config.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

extern char** environ;

namespace zunvm::agent {

namespace {

Status Field(const std::string& name, const std::string& why) {
  return Status::Invalid("create_container: " + name + " " + why);
}

bool SafeName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return s != "." && s != "..";
}

// --- the child side: runs in the new namespaces, reports failures through `err_fd` ---------

struct ChildArgs {
  const ContainerSpec* spec;
  StdioFds fds;
  int start_fd;   // read end: one byte means go
  int err_fd;     // write end: 'R' when ready, else an error message
  int devnull;
};

[[noreturn]] void ChildFail(int err_fd, const std::string& what) {
  std::string msg = what + ": " + std::strerror(errno);
  (void)!::write(err_fd, msg.data(), msg.size());
  ::_exit(127);
}

bool WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::trunc);
  f << data;
  return static_cast<bool>(f);
}

int ChildMain(void* raw) {
  auto* a = static_cast<ChildArgs*>(raw);
  const ContainerSpec& s = *a->spec;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  ::setsid();
  const std::string& r = s.rootfs;
  ::dup2(a->fds.in >= 0 ? a->fds.in : a->devnull, 0);
  ::dup2(a->fds.out, 1);
  ::dup2(a->fds.err >= 0 ? a->fds.err : a->fds.out, 2);
  if (!s.devpts.empty() && ::ioctl(1, TIOCSCTTY, 0) != 0) ChildFail(a->err_fd, "make the pty the controlling tty");
  const ContainerSecurity& sec = s.security;
  auto check = [&](const Status& st) {
    if (st.ok()) return;
    (void)!::write(a->err_fd, st.message().data(), st.message().size());
    ::_exit(127);
  };
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ChildFail(a->err_fd, "make / private");
  if (::mount(r.c_str(), r.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) ChildFail(a->err_fd, "bind rootfs");
  check(ApplyRootRules(r, sec));
  for (const auto& b : s.binds) {
    if (::mount(b.source.c_str(), b.target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      ChildFail(a->err_fd, "bind the volume at " + b.target.substr(r.size()));
    }
    if (b.readonly && ::mount(nullptr, b.target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NODEV, nullptr) != 0) {
      ChildFail(a->err_fd, "make the volume at " + b.target.substr(r.size()) + " read-only");
    }
  }
  for (const char* d : {"/proc", "/sys", "/dev", "/etc", "/tmp"}) ::mkdir((r + d).c_str(), 0755);
  if (::mount("proc", (r + "/proc").c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    ChildFail(a->err_fd, "mount /proc");
  }
  unsigned long sys_flags = (sec.privileged ? 0 : MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (::mount("sysfs", (r + "/sys").c_str(), "sysfs", sys_flags, nullptr) != 0) ChildFail(a->err_fd, "mount /sys");
  check(SetUpDev(r, sec, s.devpts));
  check(ApplyPathRules(r, sec));
  if (!s.hosts.empty() && !WriteFile(r + "/etc/hosts", s.hosts)) ChildFail(a->err_fd, "write /etc/hosts");
  if (!s.resolv_conf.empty() && !WriteFile(r + "/etc/resolv.conf", s.resolv_conf)) {
    ChildFail(a->err_fd, "write /etc/resolv.conf");
  }
  if (!s.hostname.empty() && ::sethostname(s.hostname.data(), s.hostname.size()) != 0) {
    ChildFail(a->err_fd, "sethostname");
  }
  std::string old = r + "/.zunvm-oldroot";
  ::mkdir(old.c_str(), 0700);
  if (::syscall(SYS_pivot_root, r.c_str(), old.c_str()) != 0) ChildFail(a->err_fd, "pivot_root");
  if (::chdir("/") != 0) ChildFail(a->err_fd, "chdir /");
  if (::umount2("/.zunvm-oldroot", MNT_DETACH) != 0) ChildFail(a->err_fd, "detach old root");
  ::rmdir("/.zunvm-oldroot");
  for (const auto& [name, value] : s.rlimits) {
    rlimit rl{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
    int resource = RlimitNames().at(name);
    if (::setrlimit(resource, &rl) != 0) {
      // Only an agent without CAP_SYS_RESOURCE gets here (on a host, in tests; in a guest it
      // holds every capability): the limit is lowered to the agent's own hard limit.
      rlimit own{};
      if (errno != EPERM || ::getrlimit(resource, &own) != 0) ChildFail(a->err_fd, "setrlimit " + name);
      rl.rlim_cur = rl.rlim_max = std::min(rl.rlim_max, own.rlim_max);
      if (::setrlimit(resource, &rl) != 0) ChildFail(a->err_fd, "setrlimit " + name);
    }
  }
  check(DropBoundingSet(sec));
  if (::setgroups(0, nullptr) != 0 || ::setgid(s.gid) != 0 || ::setuid(s.uid) != 0) {
    ChildFail(a->err_fd, "set user");
  }
  if (::chdir(s.cwd.c_str()) != 0) ChildFail(a->err_fd, "chdir " + s.cwd);
  // Last: the process's own privileges and the seccomp filter; what follows (the pipes and
  // execve) is allowed under them.
  check(ApplyProcessRules(sec, s.seccomp ? *s.seccomp : std::vector<sock_filter>{}));
  (void)!::write(a->err_fd, "R", 1);
  ::close(a->err_fd);
  char go = 0;
  if (::read(a->start_fd, &go, 1) != 1) ::_exit(1);  // the container was deleted before start
  ::close(a->start_fd);
  std::vector<char*> argv, envp;
  std::vector<std::string> args = s.argv, env = s.env;
  for (auto& x : args) argv.push_back(x.data());
  argv.push_back(nullptr);
  for (auto& x : env) envp.push_back(x.data());
  envp.push_back(nullptr);
  environ = envp.data();  // execvp searches this PATH
  ::execvp(argv[0], argv.data());
  std::string msg = "zunvm-agent: cannot run " + s.argv[0] + ": " + std::strerror(errno) + "\n";
  (void)!::write(2, msg.data(), msg.size());
  ::_exit(127);
}

}  // namespace

Status WriteCgroup(const std::string& path, const std::string& value) {
  std::ofstream f(path);
  f << value;
  f.flush();
  if (!f) return Status::Internal("cannot write " + value + " to " + path);
  return Status::Ok();
}

const std::map<std::string, int>& RlimitNames() {
  static const std::map<std::string, int> names = {
      {"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC}, {"core", RLIMIT_CORE},
      {"stack", RLIMIT_STACK},   {"memlock", RLIMIT_MEMLOCK}, {"fsize", RLIMIT_FSIZE}};
  return names;
}

Result<ContainerSpec> ContainerSpecFrom(const op::CreateContainer::Request& r, const std::string& rootfs) {
  ContainerSpec s;
  s.id = r.id;
  if (!SafeName(s.id)) return Err(Field("id", "must be 1..64 of [A-Za-z0-9._-]"));
  s.rootfs = rootfs;
  if (s.rootfs.empty() || s.rootfs.front() != '/' || s.rootfs.find("..") != std::string::npos) {
    return Err(Field("rootfs", "must be an absolute path"));
  }
  struct stat st{};
  if (::stat(s.rootfs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Err(Status::NotFound("create_container: rootfs " + s.rootfs + " is not a directory"));
  }
  if (r.argv.empty()) return Err(Field("argv", "is empty"));
  s.argv = r.argv;
  s.env = r.env;
  s.cwd = r.cwd.empty() ? "/" : r.cwd;
  if (s.cwd.front() != '/') return Err(Field("cwd", "must be absolute"));
  s.uid = static_cast<uid_t>(r.uid);
  s.gid = static_cast<gid_t>(r.gid);
  s.hostname = r.hostname;
  if (s.hostname.size() > 63) return Err(Field("hostname", "is longer than 63"));
  s.hosts = r.hosts;
  s.resolv_conf = r.resolv_conf;
  for (const auto& [name, value] : r.rlimits) {
    if (!RlimitNames().count(name)) return Err(Field("rlimits." + name, "is unknown"));
    s.rlimits[name] = value;
  }
  s.memory_bytes = r.memory_bytes;
  s.cpus = r.cpus;
  s.security = DockerDefaults(r.privileged);
  if (r.oci.is_object()) ZUNVM_RETURN_IF_ERROR(ApplyOciConfig(r.oci, s));  // the one description, when sent
  return s;
}

Status UpdateLimits(const std::string& dir, std::optional<int64_t> memory_bytes,
                    std::optional<double> cpus) {
  if (memory_bytes) ZUNVM_RETURN_IF_ERROR(WriteCgroup(dir + "/memory.max", std::to_string(*memory_bytes)));
  if (cpus) {
    long quota = std::lround(*cpus * 100000);
    ZUNVM_RETURN_IF_ERROR(WriteCgroup(dir + "/cpu.max", std::to_string(quota) + " 100000"));
  }
  return Status::Ok();
}

Status FreezeCgroup(const std::string& dir, bool frozen, std::chrono::milliseconds timeout) {
  ZUNVM_RETURN_IF_ERROR(WriteCgroup(dir + "/cgroup.freeze", frozen ? "1" : "0"));
  const std::string want = std::string("frozen ") + (frozen ? "1" : "0");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::ifstream events(dir + "/cgroup.events");
    std::string line;
    while (std::getline(events, line)) {
      if (line == want) return Status::Ok();
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    ::usleep(1000);
  }
  if (frozen) (void)WriteCgroup(dir + "/cgroup.freeze", "0");  // never leave it half frozen
  return Status::Unavailable("the container's cgroup did not become " + want + " in time");
}

Result<std::pair<pid_t, int>> CreateContainerProcess(const ContainerSpec& spec, const StdioFds& fds) {
  int startp[2], errp[2];
  if (::pipe2(startp, O_CLOEXEC) != 0) return Err(Status::Internal("pipe"));
  if (::pipe2(errp, O_CLOEXEC) != 0) {
    ::close(startp[0]);
    ::close(startp[1]);
    return Err(Status::Internal("pipe"));
  }
  ChildArgs args{&spec, fds, startp[0], errp[1], ::open("/dev/null", O_RDWR | O_CLOEXEC)};
  constexpr size_t kStack = 1 << 20;
  void* stack = ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return Err(Status::Internal("mmap stack"));
  pid_t pid = ::clone(ChildMain, static_cast<char*>(stack) + kStack,
                      CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD, &args);
  int clone_errno = errno;
  ::close(startp[0]);
  ::close(errp[1]);
  if (args.devnull >= 0) ::close(args.devnull);
  if (pid < 0) {
    ::munmap(stack, kStack);
    ::close(startp[1]);
    ::close(errp[0]);
    return Err(Status::Internal(std::string("clone: ") + std::strerror(clone_errno)));
  }
  Status cg = Status::Ok();
  if (!spec.cgroup_root.empty()) {
    std::string dir = spec.cgroup_root + "/" + spec.id;
    ::mkdir(spec.cgroup_root.c_str(), 0755);
    (void)WriteCgroup(spec.cgroup_root + "/../cgroup.subtree_control", "+cpu +memory +pids");
    (void)WriteCgroup(spec.cgroup_root + "/cgroup.subtree_control", "+cpu +memory +pids");
    ::mkdir(dir.c_str(), 0755);
    cg = UpdateLimits(dir, spec.memory_bytes, spec.cpus);
    if (cg.ok()) cg = WriteCgroup(dir + "/cgroup.procs", std::to_string(pid));
  }
  std::string report;
  char buf[512];
  ssize_t n;
  while ((n = ::read(errp[0], buf, sizeof buf)) > 0) {
    report.append(buf, static_cast<size_t>(n));
    if (report == "R") break;
  }
  ::close(errp[0]);
  // The child runs on its own copy of the address space: our stack mapping can go.
  ::munmap(stack, kStack);
  if (report != "R" || !cg.ok()) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ::close(startp[1]);
    if (!cg.ok()) return Err(cg);
    return Err(Status::Internal("container setup failed: " + (report.empty() ? "no report" : report)));
  }
  return std::make_pair(pid, startp[1]);
}

Result<pid_t> ExecInContainer(pid_t init_pid, const std::vector<std::string>& argv,
                              const std::vector<std::string>& env, const std::string& cwd,
                              const StdioFds& fds, bool new_session_tty, const ContainerSecurity& sec,
                              const std::vector<sock_filter>* prog) {
  std::string ns = "/proc/" + std::to_string(init_pid) + "/ns/";
  int own_pid = ::open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
  int target_pid = ::open((ns + "pid").c_str(), O_RDONLY | O_CLOEXEC);
  int ipc = ::open((ns + "ipc").c_str(), O_RDONLY | O_CLOEXEC);
  int uts = ::open((ns + "uts").c_str(), O_RDONLY | O_CLOEXEC);
  int mnt = ::open((ns + "mnt").c_str(), O_RDONLY | O_CLOEXEC);
  auto close_all = [&] {
    for (int fd : {own_pid, target_pid, ipc, uts, mnt}) {
      if (fd >= 0) ::close(fd);
    }
  };
  if (own_pid < 0 || target_pid < 0 || ipc < 0 || uts < 0 || mnt < 0) {
    close_all();
    return Err(Status::NotFound("the container's namespaces are gone"));
  }
  // Children of ours are born in the container's pid namespace until we switch back.
  if (::setns(target_pid, CLONE_NEWPID) != 0) {
    close_all();
    return Err(Status::Internal(std::string("setns pid: ") + std::strerror(errno)));
  }
  int errp[2];
  if (::pipe2(errp, O_CLOEXEC) != 0) {
    (void)::setns(own_pid, CLONE_NEWPID);
    close_all();
    return Err(Status::Internal("pipe"));
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::setns(ipc, CLONE_NEWIPC) != 0 || ::setns(uts, CLONE_NEWUTS) != 0 || ::setns(mnt, CLONE_NEWNS) != 0) {
      ChildFail(errp[1], "setns");
    }
    ::setsid();
    int devnull = ::open("/dev/null", O_RDWR);
    if (new_session_tty) ::ioctl(fds.out, TIOCSCTTY, 0);
    ::dup2(fds.in >= 0 ? fds.in : devnull, 0);
    ::dup2(fds.out, 1);
    ::dup2(fds.err >= 0 ? fds.err : fds.out, 2);
    if (::chdir(cwd.empty() ? "/" : cwd.c_str()) != 0) ChildFail(errp[1], "chdir " + cwd);
    Status rules = DropBoundingSet(sec);
    if (rules.ok()) rules = ApplyProcessRules(sec, prog ? *prog : std::vector<sock_filter>{});
    if (!rules.ok()) {
      (void)!::write(errp[1], rules.message().data(), rules.message().size());
      ::_exit(127);
    }
    std::vector<char*> a, e;
    std::vector<std::string> args = argv, envs = env;
    for (auto& x : args) a.push_back(x.data());
    a.push_back(nullptr);
    for (auto& x : envs) e.push_back(x.data());
    e.push_back(nullptr);
    if (!envs.empty()) environ = e.data();
    ::execvp(a[0], a.data());
    ChildFail(errp[1], "cannot run " + argv[0]);
  }
  int fork_errno = errno;
  (void)::setns(own_pid, CLONE_NEWPID);
  close_all();
  ::close(errp[1]);
  if (pid < 0) {
    ::close(errp[0]);
    return Err(Status::Unavailable(std::string("fork: ") + std::strerror(fork_errno)));
  }
  std::string report;
  char buf[512];
  ssize_t n;
  while ((n = ::read(errp[0], buf, sizeof buf)) > 0) report.append(buf, static_cast<size_t>(n));
  ::close(errp[0]);
  if (!report.empty()) {
    ::waitpid(pid, nullptr, 0);
    return Err(Status::NotFound(report));
  }
  return pid;
}

}  // namespace zunvm::agent
