#include "agent/guest/disks.h"

#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace zunvm::agent {

namespace {

const char kBase[] = "/run/zunvm/containers/";

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

struct DiskSpec {
  std::string serial, fstype = "ext4";
  bool readonly = false;
};

Result<DiskSpec> ParseDisk(const nlohmann::json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || !it->is_object()) return Err(Status::Invalid(std::string(key) + " must be an object"));
  DiskSpec d;
  if (auto s = it->find("serial"); s != it->end() && s->is_string()) d.serial = s->get<std::string>();
  if (!SafeSerial(d.serial)) return Err(Status::Invalid(std::string(key) + ".serial must be 1..20 of [A-Za-z0-9._-]"));
  if (auto f = it->find("fstype"); f != it->end()) {
    if (!f->is_string() || (*f != "ext4" && *f != "ext2" && *f != "xfs")) {
      return Err(Status::Invalid(std::string(key) + ".fstype must be ext4, ext2 or xfs"));
    }
    d.fstype = f->get<std::string>();
  }
  if (auto r = it->find("readonly"); r != it->end()) {
    if (!r->is_boolean()) return Err(Status::Invalid(std::string(key) + ".readonly must be a boolean"));
    d.readonly = r->get<bool>();
  }
  return d;
}

Status MountDisk(const DiskSpec& d, const std::string& at, bool readonly) {
  auto dev = FindDiskBySerial(d.serial);
  if (!dev) return dev.error();
  ZUNVM_RETURN_IF_ERROR(MkdirP(at));
  unsigned long flags = MS_NODEV | (readonly ? MS_RDONLY : 0);
  if (::mount(dev->c_str(), at.c_str(), d.fstype.c_str(), flags, nullptr) != 0) {
    return Status::Internal("mount " + *dev + " (" + d.fstype + ") on " + at + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> FindDiskBySerial(const std::string& serial) {
  if (DIR* d = ::opendir("/sys/block")) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name.rfind("vd", 0) != 0) continue;
      std::ifstream f("/sys/block/" + name + "/serial");
      std::string s;
      std::getline(f, s);
      if (s == serial) {
        ::closedir(d);
        return "/dev/" + name;
      }
    }
    ::closedir(d);
  }
  return Err(Status::NotFound("no disk with serial " + serial));
}

Result<std::string> MountContainerDisks(const std::string& id, const nlohmann::json& body) {
  bool id_ok = !id.empty() && id.size() <= 64 && id != "." && id != "..";
  for (char c : id) id_ok = id_ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
  if (!id_ok) return Err(Status::Invalid("bad container id"));
  auto lower = ParseDisk(body, "rootfs_disk");
  if (!lower) return Err(lower.error());
  std::string base = kBase + id;
  bool overlay = body.contains("upper_disk");
  if (!overlay) {
    ZUNVM_RETURN_IF_ERROR(MountDisk(*lower, base + "/rootfs", lower->readonly));
    return base + "/rootfs";
  }
  auto upper = ParseDisk(body, "upper_disk");
  if (!upper) return Err(upper.error());
  ZUNVM_RETURN_IF_ERROR(MountDisk(*lower, base + "/lower", true));
  Status st = MountDisk(*upper, base + "/upperdisk", false);
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
