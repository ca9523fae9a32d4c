#include "agent/guest/disks.h"

#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

namespace zunvm::agent {

namespace {

const char kBase[] = "/run/zunvm/containers/";
const char kVolumes[] = "/run/zunvm/volumes/";

bool SafeSerial(const std::string& s) {
  if (s.empty() || s.size() > 20) return false;  // virtio-blk serials are at most 20 bytes
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

Status MkdirP(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      std::string p = path.substr(0, i);
      if (::mkdir(p.c_str(), 0755) != 0 && errno != EEXIST) {
        return Status::Internal("mkdir " + p + ": " + std::strerror(errno));
      }
    }
  }
  return Status::Ok();
}

Status CheckDisk(const op::DiskRef& d, const char* key) {
  if (!SafeSerial(d.serial)) return Status::Invalid(std::string(key) + ".serial must be 1..20 of [A-Za-z0-9._-]");
  return Status::Ok();
}

// A disk hot-plugged just before (a VM from the pool gets its disks that way) appears once the
// guest's PCIe hot-plug and virtio probe are done: it is waited for, up to 10 s.
Status MountDisk(const op::DiskRef& d, const std::string& at, bool readonly, const DiskRoots& roots) {
  auto dev = FindDiskBySerial(d.serial, roots);
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       !dev && dev.error().code() == Code::kNotFound && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    dev = FindDiskBySerial(d.serial, roots);
  }
  if (!dev) return dev.error();
  ZUNVM_RETURN_IF_ERROR(MkdirP(at));
  unsigned long flags = MS_NODEV | (readonly ? MS_RDONLY : 0);
  // A read-only ext4 volume may carry a journal from its last writer that a read-only device
  // cannot replay: it is mounted without loading it.
  const char* data = readonly && d.fstype == "ext4" && at.rfind(kVolumes, 0) == 0 ? "noload" : nullptr;
  if (::mount(dev->c_str(), at.c_str(), d.fstype.c_str(), flags, data) != 0) {
    return Status::Internal("mount " + *dev + " (" + d.fstype + ") on " + at + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> FindDiskBySerial(const std::string& serial, const DiskRoots& roots) {
  if (DIR* d = ::opendir(roots.sys_block.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name.rfind("vd", 0) != 0) continue;
      std::ifstream f(roots.sys_block + "/" + name + "/serial");
      std::string s;
      std::getline(f, s);
      if (s == serial) {
        ::closedir(d);
        return roots.dev + "/" + name;
      }
    }
    ::closedir(d);
  }
  return Err(Status::NotFound("no disk with serial " + serial));
}

Result<std::vector<std::string>> MountVolumeDisks(const std::vector<op::VolumeMount>& volumes,
                                                  const DiskRoots& roots) {
  std::vector<std::string> dirs;
  for (const auto& v : volumes) {
    ZUNVM_RETURN_IF_ERROR(CheckDisk(v.disk, "volumes.disk"));
    std::string at = kVolumes + v.disk.serial;
    struct stat here{}, parent{};
    bool mounted = ::stat(at.c_str(), &here) == 0 && ::stat(kVolumes, &parent) == 0 && here.st_dev != parent.st_dev;
    if (!mounted) ZUNVM_RETURN_IF_ERROR(MountDisk(v.disk, at, v.disk.readonly, roots));
    dirs.push_back(at);
  }
  return dirs;
}

Result<std::string> MountContainerDisks(const std::string& id, const op::DiskRef& lower,
                                        const std::optional<op::DiskRef>& upper, const DiskRoots& roots) {
  bool id_ok = !id.empty() && id.size() <= 64 && id != "." && id != "..";
  for (char c : id) id_ok = id_ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
  if (!id_ok) return Err(Status::Invalid("bad container id"));
  ZUNVM_RETURN_IF_ERROR(CheckDisk(lower, "rootfs_disk"));
  std::string base = kBase + id;
  if (!upper) {
    ZUNVM_RETURN_IF_ERROR(MountDisk(lower, base + "/rootfs", lower.readonly, roots));
    return base + "/rootfs";
  }
  ZUNVM_RETURN_IF_ERROR(CheckDisk(*upper, "upper_disk"));
  ZUNVM_RETURN_IF_ERROR(MountDisk(lower, base + "/lower", true, roots));
  Status st = MountDisk(*upper, base + "/upperdisk", false, roots);
  if (st.ok()) st = MkdirP(base + "/upperdisk/upper");
  if (st.ok()) st = MkdirP(base + "/upperdisk/work");
  if (st.ok()) st = MkdirP(base + "/rootfs");
  if (st.ok()) {
    std::string opts = "lowerdir=" + base + "/lower,upperdir=" + base + "/upperdisk/upper,workdir=" +
                       base + "/upperdisk/work";
    if (::mount("overlay", (base + "/rootfs").c_str(), "overlay", MS_NODEV, opts.c_str()) != 0) {
      st = Status::Internal("mount overlay for " + id + ": " + std::strerror(errno));
    }
  }
  if (!st.ok()) {
    UnmountContainerDisks(id);
    return Err(st);
  }
  return base + "/rootfs";
}

void UnmountContainerDisks(const std::string& id) {
  std::string base = kBase + id;
  for (const char* m : {"/rootfs", "/upperdisk", "/lower"}) {
    std::string p = base + m;
    // A plain umount first so the filesystem is cleanly written back; lazily if still busy.
    if (::umount2(p.c_str(), 0) != 0 && errno == EBUSY) ::umount2(p.c_str(), MNT_DETACH);
    ::rmdir(p.c_str());
  }
  ::rmdir(base.c_str());
}

}  // namespace zunvm::agent
