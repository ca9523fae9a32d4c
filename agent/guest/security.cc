#include "agent/guest/security.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "agent/guest/seccomp_profile.h"
#include "common/docker_defaults.h"

namespace zunvm::agent {

namespace {

Status Errno(const std::string& what) { return Status::Internal(what + ": " + std::strerror(errno)); }

// Flags of the mount at `path` that a bind remount must keep (it replaces them all).
unsigned long KeptFlags(const std::string& path) {
  struct statvfs v{};
  if (::statvfs(path.c_str(), &v) != 0) return 0;
  unsigned long f = 0;
  if (v.f_flag & ST_RDONLY) f |= MS_RDONLY;
  if (v.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (v.f_flag & ST_NODEV) f |= MS_NODEV;
  if (v.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (v.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (v.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (v.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

Status RemountReadOnly(const std::string& path) {
  if (::mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) return Errno("bind " + path);
  if (::mount(nullptr, path.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | KeptFlags(path), nullptr) != 0) {
    return Errno("remount read-only " + path);
  }
  return Status::Ok();
}

Status Mask(const std::string& path) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) return Status::Ok();  // not in this kernel: nothing to hide
  if (S_ISDIR(st.st_mode)) {
    if (::mount("tmpfs", path.c_str(), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=0555") != 0) {
      return Errno("mask " + path);
    }
  } else if (::mount("/dev/null", path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return Errno("mask " + path);
  }
  return Status::Ok();
}

}  // namespace

int CapabilityByName(const std::string& name) {
  std::string n;
  for (char c : name) n += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (n.rfind("CAP_", 0) == 0) n = n.substr(4);
  for (const auto& c : docker::Capabilities()) {
    if (n == c.name) return c.number;
  }
  return -1;
}

uint64_t CapabilityMask(const std::vector<int>& caps) {
  uint64_t mask = 0;
  for (int c : caps) mask |= uint64_t{1} << c;
  return mask;
}

ContainerSecurity DockerDefaults(bool privileged) {
  ContainerSecurity s;
  s.privileged = privileged;
  if (privileged) {
    for (int c = 0; c <= CAP_LAST_CAP; ++c) s.capabilities.push_back(c);
    s.no_new_privileges = false;
    s.seccomp = false;
    s.standard_devices_only = false;
    return s;
  }
  for (const char* name : docker::DefaultCapabilities()) s.capabilities.push_back(CapabilityByName(name));
  // Docker's lists; plus the guest's virtio ports (ApplyPathRules).
  s.masked_paths.assign(docker::MaskedPaths().begin(), docker::MaskedPaths().end());
  s.masked_paths.push_back("/sys/class/virtio-ports");
  s.readonly_paths.assign(docker::ReadonlyPaths().begin(), docker::ReadonlyPaths().end());
  return s;
}

Status ApplyRootRules(const std::string& root, const ContainerSecurity& sec) {
  if (!sec.standard_devices_only) return Status::Ok();
  if (::mount(nullptr, root.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_NODEV | KeptFlags(root), nullptr) != 0) {
    return Errno("remount the root nodev");
  }
  return Status::Ok();
}

Status SetUpDev(const std::string& root, const ContainerSecurity& sec, const std::string& devpts) {
  const std::string dev = root + "/dev";
  unsigned long flags = MS_NOSUID | (sec.standard_devices_only ? MS_NODEV : 0);
  if (::mount("tmpfs", dev.c_str(), "tmpfs", flags, "mode=755") != 0) return Errno("mount /dev");
  std::vector<std::string> nodes = {"null", "zero", "full", "random", "urandom", "tty"};
  if (!sec.standard_devices_only) {  // every device node the guest has
    nodes.clear();
    if (DIR* d = ::opendir("/dev")) {
      while (dirent* e = ::readdir(d)) {
        struct stat st{};
        std::string name = e->d_name;
        if (name == "ptmx" || ::lstat(("/dev/" + name).c_str(), &st) != 0) continue;
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) nodes.push_back(name);
      }
      ::closedir(d);
    }
  }
  // Bind mounts of the guest's own nodes: the bind keeps the guest /dev's mount flags, so
  // these open although the tmpfs under them is nodev.
  for (const auto& name : nodes) {
    std::string target = dev + "/" + name;
    ::close(::open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0666));
    if (::mount(("/dev/" + name).c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      return Errno("bind /dev/" + name);
    }
  }
  ::mkdir((dev + "/pts").c_str(), 0755);
  if (!devpts.empty()) {
    if (::mount(devpts.c_str(), (dev + "/pts").c_str(), nullptr, MS_BIND, nullptr) != 0) return Errno("bind /dev/pts");
  } else if (::mount("devpts", (dev + "/pts").c_str(), "devpts", MS_NOSUID | MS_NOEXEC, kDevptsOptions) != 0) {
    return Errno("mount /dev/pts");
  }
  (void)!::symlink("pts/ptmx", (dev + "/ptmx").c_str());
  ::mkdir((dev + "/shm").c_str(), 01777);
  if (::mount("shm", (dev + "/shm").c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
    return Errno("mount /dev/shm");
  }
  (void)!::symlink("/proc/self/fd", (dev + "/fd").c_str());
  (void)!::symlink("/proc/self/fd/0", (dev + "/stdin").c_str());
  (void)!::symlink("/proc/self/fd/1", (dev + "/stdout").c_str());
  (void)!::symlink("/proc/self/fd/2", (dev + "/stderr").c_str());
  return Status::Ok();
}

Status ApplyPathRules(const std::string& root, const ContainerSecurity& sec) {
  for (const auto& p : sec.masked_paths) ZUNVM_RETURN_IF_ERROR(Mask(root + p));
  if (!sec.privileged) {
    // The agent's virtio-serial port, seen from the device side: every virtio device's
    // virtio-ports directory (the class directory is masked above).
    std::string devices = root + "/sys/bus/virtio/devices";
    if (DIR* d = ::opendir(devices.c_str())) {
      std::vector<std::string> ports;
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string dir = devices + "/" + e->d_name + "/virtio-ports";
        struct stat st{};
        if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) ports.push_back(dir);
      }
      ::closedir(d);
      for (const auto& p : ports) ZUNVM_RETURN_IF_ERROR(Mask(p));
    }
  }
  for (const auto& p : sec.readonly_paths) {
    struct stat st{};
    if (::lstat((root + p).c_str(), &st) != 0) continue;
    ZUNVM_RETURN_IF_ERROR(RemountReadOnly(root + p));
  }
  return Status::Ok();
}

Status DropBoundingSet(const ContainerSecurity& sec) {
  if (sec.privileged) return Status::Ok();
  uint64_t keep = CapabilityMask(sec.capabilities);
  for (int c = 0; c <= CAP_LAST_CAP; ++c) {
    if (keep & (uint64_t{1} << c)) continue;
    if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) return Errno("drop capability");
  }
  return Status::Ok();
}

Status ApplyProcessRules(const ContainerSecurity& sec, const std::vector<sock_filter>& prog) {
  if (sec.privileged) return Status::Ok();
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return Errno("clear ambient capabilities");
  }
  if (::geteuid() == 0) {
    uint64_t mask = CapabilityMask(sec.capabilities);
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    for (int i = 0; i < 2; ++i) {
      auto word = static_cast<uint32_t>(mask >> (32 * i));
      data[i].effective = data[i].permitted = data[i].inheritable = word;
    }
    if (::syscall(SYS_capset, &hdr, data) != 0) return Errno("set capabilities");
  }
  if (sec.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Errno("no_new_privs");
  if (sec.seccomp) {
    if (prog.empty()) return Status::Internal("no seccomp program");
    int err = LoadFilter(prog);
    if (err != 0) {
      errno = err;
      return Errno("load the seccomp filter");
    }
  }
  return Status::Ok();
}

}  // namespace zunvm::agent
