#include "agent/guest/init.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

namespace zunvm::agent {

void ConsoleLog(const std::string& msg) {
  std::string line = "zunvm-agent: " + msg + "\n";
  (void)!::write(2, line.data(), line.size());
}

Status LeaveInitramfsRoot() {
  // The kernel's rootfs has no parent mount, which makes pivot_root(2) fail with EINVAL for
  // every container. A bind mount of it, moved over "/" and chrooted into, is an ordinary
  // mount (same files, nothing copied) under which containers can pivot_root.
  ::mkdir("/.root", 0700);
  if (::mount("/", "/.root", nullptr, MS_BIND, nullptr) != 0 || ::chdir("/.root") != 0 ||
      ::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0 || ::chroot(".") != 0 || ::chdir("/") != 0) {
    return Status::Internal(std::string("leaving the initramfs root: ") + std::strerror(errno));
  }
  ::rmdir("/.root");
  return Status::Ok();
}

Status MountPseudoFilesystems() {
  struct M {
    const char *src, *dst, *type;
    unsigned long flags;
    const char* data;
  };
  const M mounts[] = {
      {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr},
      {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr},
      {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
      {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666"},
      {"tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
      {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
      {"cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr},
  };
  for (const auto& m : mounts) {
    ::mkdir(m.dst, 0755);
    if (::mount(m.src, m.dst, m.type, m.flags, m.data) != 0 && errno != EBUSY) {
      return Status::Internal(std::string("mount ") + m.dst + ": " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

Status LoadModules(const std::string& dir) {
  std::ifstream order(dir + "/modules.order");
  if (!order) return Status::Ok();  // a kernel with everything built in
  std::string name;
  while (std::getline(order, name)) {
    if (name.empty()) continue;
    std::string path = dir + "/" + name;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::NotFound("module " + path + ": " + std::strerror(errno));
    long r = ::syscall(SYS_finit_module, fd, "", 0);
    int e = errno;
    ::close(fd);
    if (r != 0 && e != EEXIST) {
      return Status::Internal("finit_module " + name + ": " + std::strerror(e));
    }
  }
  return Status::Ok();
}

Result<int> OpenPort(const std::string& name, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (DIR* d = ::opendir("/sys/class/virtio-ports")) {
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream f(std::string("/sys/class/virtio-ports/") + e->d_name + "/name");
        std::string got;
        std::getline(f, got);
        if (got != name) continue;
        std::string dev = std::string("/dev/") + e->d_name;
        ::closedir(d);
        int fd = ::open(dev.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) return Err(Status::Unavailable("open " + dev + ": " + std::strerror(errno)));
        return fd;
      }
      ::closedir(d);
    }
    // Ports appear ~50 ms after virtio_console loads (host control messages): poll.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return Err(Status(Code::kDeadlineExceeded, "virtio port " + name + " did not appear"));
}

void PowerOff() {
  ::sync();
  ::reboot(RB_POWER_OFF);
  for (;;) ::pause();
}

}  // namespace zunvm::agent
