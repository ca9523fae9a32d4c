#include "driver/oci/rootfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "common/fs_at.h"
#include "common/strings.h"

namespace zunvm::oci {

namespace {

using fsat::UniqueFd;

std::string ErrnoText(int e) { return std::strerror(e); }

Status CheckPath(const std::string& p, const std::string& what, bool in_options) {
  if (p.empty() || p[0] != '/') return Status::Invalid(what + " must be an absolute path: " + p);
  for (unsigned char c : p) {
    if (c < 0x20 || c == 0x7f) return Status::Invalid(what + " has a control character: " + p);
    if (in_options && (c == ',' || c == ':' || c == '\\' || c == ' ')) {
      return Status::Invalid(what + " may not hold ',', ':', '\\' or a space: " + p);
    }
  }
  for (const auto& part : Split(p, '/')) {
    if (part == "." || part == "..") return Status::Invalid(what + " may not hold \".\" or \"..\": " + p);
  }
  return Status::Ok();
}

// `p` with symlinks resolved, as /proc/self/mountinfo and sysfs show paths.
Result<std::string> Canonical(const std::string& p, const std::string& what) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) return Err(Status::NotFound(what + " " + p + " does not exist"));
    return Err(Status::Internal(what + " " + p + ": " + ErrnoText(e)));
  }
  return std::string(buf);
}

bool IsUnder(const std::string& path, const std::string& root) {
  if (root == "/") return !path.empty() && path[0] == '/';
  return path == root || (StartsWith(path, root) && path[root.size()] == '/');
}

// The first line of a (sysfs) file; empty when it cannot be read.
std::string FirstLine(const std::string& file) {
  std::ifstream f(file);
  std::string s;
  std::getline(f, s);
  return s;
}

struct MountEntry {
  std::string devno;  // "major:minor" of the filesystem
  std::string mount_point;
  bool shared = false;
  std::string fstype, source, super_opts;
};

std::string Unescape(const std::string& s) {  // mountinfo's \ooo
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto octal = [&](size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '7'; };
    if (s[i] == '\\' && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += static_cast<char>(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

Result<std::vector<MountEntry>> ReadMountInfo() {
  std::ifstream f("/proc/self/mountinfo");
  if (!f) return Err(Status::Internal("cannot read /proc/self/mountinfo"));
  std::vector<MountEntry> out;
  for (std::string line; std::getline(f, line);) {
    // id parent major:minor root mount-point options [optional fields...] - fstype source super-options
    std::vector<std::string> v = Split(line, ' ');
    if (v.size() < 10) continue;
    auto dash = std::find(v.begin() + 6, v.end(), "-");
    if (v.end() - dash < 4) continue;
    MountEntry e;
    e.devno = v[2];
    e.mount_point = Unescape(v[4]);
    e.shared = std::any_of(v.begin() + 6, dash, [](const std::string& o) { return StartsWith(o, "shared:"); });
    e.fstype = dash[1];
    e.source = Unescape(dash[2]);
    e.super_opts = Unescape(dash[3]);
    out.push_back(std::move(e));
  }
  return out;
}

// The topmost mount on `path` (mountinfo lists a mount after the one it covers), or null.
const MountEntry* MountAt(const std::vector<MountEntry>& mounts, const std::string& path) {
  const MountEntry* found = nullptr;
  for (const auto& m : mounts) {
    if (m.mount_point == path) found = &m;
  }
  return found;
}

// The mount that `path` lives on: the longest mount point above it (or at it).
const MountEntry* MountHolding(const std::vector<MountEntry>& mounts, const std::string& path) {
  const MountEntry* found = nullptr;
  for (const auto& m : mounts) {
    if (IsUnder(path, m.mount_point) && (!found || m.mount_point.size() >= found->mount_point.size())) found = &m;
  }
  return found;
}

struct LoopDevice {
  std::string name;     // "loop3"
  std::string devno;    // "7:3"
  std::string backing;  // the backing file, without the kernel's " (deleted)"
};

std::string WithoutDeleted(std::string s) {
  const std::string tail = " (deleted)";
  if (s.size() > tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0) s.resize(s.size() - tail.size());
  return s;
}

// Every bound loop device (only a bound one has loop/backing_file).
std::vector<LoopDevice> BoundLoops() {
  std::vector<LoopDevice> out;
  DIR* d = ::opendir("/sys/block");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (!StartsWith(name, "loop")) continue;
    std::string backing = FirstLine("/sys/block/" + name + "/loop/backing_file");
    if (backing.empty()) continue;
    out.push_back({name, FirstLine("/sys/block/" + name + "/dev"), WithoutDeleted(backing)});
  }
  ::closedir(d);
  return out;
}

// Binds `file` to a free loop device with autoclear in one LOOP_CONFIGURE. The returned fd keeps
// the device bound until it closes, unless a mount holds the device by then.
Result<std::pair<std::string, UniqueFd>> AttachLoop(const std::string& file, bool readonly) {
  UniqueFd backing(::open(file.c_str(), (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (backing.get() < 0) return Err(Status::Internal("open " + file + ": " + ErrnoText(errno)));
  UniqueFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (control.get() < 0) return Err(Status::Internal("open /dev/loop-control: " + ErrnoText(errno)));
  for (int attempt = 0; attempt < 16; ++attempt) {  // another process may take the same free device
    int n = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (n < 0) return Err(Status::Internal("LOOP_CTL_GET_FREE: " + ErrnoText(errno)));
    std::string dev = "/dev/loop" + std::to_string(n);
    UniqueFd loop(::open(dev.c_str(), O_RDWR | O_CLOEXEC));
    if (loop.get() < 0) return Err(Status::Internal("open " + dev + ": " + ErrnoText(errno)));
    loop_config cfg{};
    cfg.fd = static_cast<__u32>(backing.get());
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
    if (readonly) cfg.info.lo_flags |= LO_FLAGS_READ_ONLY;
    std::memcpy(cfg.info.lo_file_name, file.data(), std::min<size_t>(file.size(), LO_NAME_SIZE - 1));
    if (::ioctl(loop.get(), LOOP_CONFIGURE, &cfg) == 0) return std::make_pair(dev, std::move(loop));
    if (errno != EBUSY) {
      return Err(Status::Internal("LOOP_CONFIGURE " + dev + " for " + file + ": " + ErrnoText(errno)));
    }
  }
  return Err(Status::Internal("no free loop device for " + file + " after 16 tries"));
}

Status MakePrivate(const std::string& target) {
  if (::mount(nullptr, target.c_str(), nullptr, MS_PRIVATE, nullptr) != 0) {
    return Status::Internal("make " + target + " private: " + ErrnoText(errno));
  }
  return Status::Ok();
}

// mount(2), then MS_PRIVATE on the new mount; undone if the second step fails. (A kill between
// the two leaves a mount that MountRootfs finds and makes private again.)
Status MountPrivate(const std::string& source, const std::string& target, const char* type, unsigned long flags,
                    const char* data) {
  if (::mount(source.c_str(), target.c_str(), type, flags, data) != 0) {
    return Status::Internal("mount " + std::string(type) + " " + source + " on " + target + ": " + ErrnoText(errno));
  }
  Status st = MakePrivate(target);
  if (!st.ok()) ::umount2(target.c_str(), UMOUNT_NOFOLLOW);
  return st;
}

Status MakeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) == 0) return Status::Ok();
  int e = errno;
  struct stat st{};
  if (e == EEXIST && ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status::Ok();
  if (e == EEXIST) return Status::Conflict(path + " exists and is not a directory");
  return Status::Internal("mkdir " + path + ": " + ErrnoText(e));
}

// Internal when `base` is under a shared mount: mounts made there would propagate to its peers.
Status CheckNotShared(const std::vector<MountEntry>& mounts, const std::string& base) {
  const MountEntry* holder = MountHolding(mounts, base);
  if (holder != nullptr && holder->shared) {
    return Status::Internal(base + " is on the shared mount " + holder->mount_point +
                            ": its mounts would propagate; make the sandboxes' root private first");
  }
  return Status::Ok();
}

// Unmounts everything stacked on `path`, never lazily.
Status UnmountAll(const std::string& path) {
  for (int i = 0; i < 16; ++i) {
    auto mounts = ReadMountInfo();
    if (!mounts) return mounts.error();
    if (MountAt(*mounts, path) == nullptr) return Status::Ok();
    if (::umount2(path.c_str(), UMOUNT_NOFOLLOW) != 0) {
      int e = errno;
      if (e == EBUSY) return Status::Conflict(path + " is busy (a process uses it): not unmounted");
      if (e != EINVAL) return Status::Internal("unmount " + path + ": " + ErrnoText(e));
    }
  }
  return Status::Internal(path + " is still mounted after 16 unmounts");
}

// A mount found on lower or upperdisk must be an ext4 on a loop device backed by `file`.
Status CheckLoopMount(const MountEntry& m, const std::string& path, const std::string& file) {
  std::string backing = FirstLine("/sys/dev/block/" + m.devno + "/loop/backing_file");
  if (m.fstype != "ext4" || backing != file) {
    return Status::Conflict(path + " holds " + m.fstype + " from " + (backing.empty() ? m.source : backing) +
                            ", not " + file);
  }
  return Status::Ok();
}

// One disk file (ext4 unless said) on a new loop device, mounted at `target`. The loop fd closes
// on return: the mount holds the device from then on or, if the mount failed, the device detaches.
Status MountDisk(const std::string& file, const std::string& target, bool readonly, const std::string& fstype = "ext4") {
  ZUNVM_RETURN_IF_ERROR(MakeDir(target, 0711));
  auto loop = AttachLoop(file, readonly);
  if (!loop) return loop.error();
  return MountPrivate(loop->first, target, fstype.c_str(), MS_NODEV | (readonly ? MS_RDONLY : 0),
                      readonly && fstype == "ext4" ? "noload" : nullptr);
}

// A writable disk may be mounted once: refuse one that is on a loop device already. A device
// whose last user just went may take a moment to detach on some kernels: it is waited for.
Status CheckNotAttached(const std::string& file) {
  for (int i = 0;; ++i) {
    std::string dev;
    for (const auto& l : BoundLoops()) {
      if (l.backing == file) dev = l.name;
    }
    if (dev.empty()) return Status::Ok();
    if (i == 50) return Status::Conflict("the disk " + file + " is already on /dev/" + dev + " (mounted writable elsewhere)");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

struct Paths {
  std::string lower, upperdisk, rootfs;
  explicit Paths(const std::string& base)
      : lower(base + "/lower"), upperdisk(base + "/upperdisk"), rootfs(base + "/rootfs") {}
};

Status MountSteps(const Paths& p, const std::vector<MountEntry>& mounts, const std::string& image,
                  const std::string& upper, std::vector<std::string>* made) {
  if (const MountEntry* m = MountAt(mounts, p.lower)) {
    ZUNVM_RETURN_IF_ERROR(CheckLoopMount(*m, p.lower, image));
    ZUNVM_RETURN_IF_ERROR(MakePrivate(p.lower));
  } else {
    ZUNVM_RETURN_IF_ERROR(MountDisk(image, p.lower, true));
    made->push_back(p.lower);
  }
  if (const MountEntry* m = MountAt(mounts, p.upperdisk)) {
    ZUNVM_RETURN_IF_ERROR(CheckLoopMount(*m, p.upperdisk, upper));
    ZUNVM_RETURN_IF_ERROR(MakePrivate(p.upperdisk));
  } else {
    ZUNVM_RETURN_IF_ERROR(CheckNotAttached(upper));
    ZUNVM_RETURN_IF_ERROR(MountDisk(upper, p.upperdisk, false));
    made->push_back(p.upperdisk);
  }
  ZUNVM_RETURN_IF_ERROR(MakeDir(p.upperdisk + "/upper", 0755));
  ZUNVM_RETURN_IF_ERROR(MakeDir(p.upperdisk + "/work", 0755));
  const std::string upperdir = "upperdir=" + p.upperdisk + "/upper";
  if (const MountEntry* m = MountAt(mounts, p.rootfs)) {
    auto opts = Split(m->super_opts, ',');
    if (m->fstype != "overlay" || std::find(opts.begin(), opts.end(), upperdir) == opts.end()) {
      return Status::Conflict(p.rootfs + " holds " + m->fstype + " " + m->super_opts + ", not the overlay on " +
                              p.upperdisk);
    }
    return MakePrivate(p.rootfs);
  }
  ZUNVM_RETURN_IF_ERROR(MakeDir(p.rootfs, 0711));
  // index, metacopy and redirect_dir are what overlayfs defaults to; they are set explicitly so
  // that a host kernel with other defaults cannot write an upper a guest kernel misreads.
  const std::string opts = "lowerdir=" + p.lower + "," + upperdir + ",workdir=" + p.upperdisk +
                           "/work,index=off,metacopy=off,redirect_dir=off";
  ZUNVM_RETURN_IF_ERROR(MountPrivate("overlay", p.rootfs, "overlay", MS_NODEV, opts.c_str()));
  made->push_back(p.rootfs);
  return Status::Ok();
}

}  // namespace

Status MakePrivateMountRoot(const std::string& root) {
  ZUNVM_RETURN_IF_ERROR(CheckPath(root, "mount root", false));
  auto base = Canonical(root, "mount root");
  if (!base) return base.error();
  auto mounts = ReadMountInfo();
  if (!mounts) return mounts.error();
  if (MountAt(*mounts, *base) == nullptr) {
    for (const auto& m : *mounts) {
      if (IsUnder(m.mount_point, *base)) {
        return Status::Invalid(*base + " is not a mount point but " + m.mount_point + " is mounted under it");
      }
    }
    if (::mount(base->c_str(), base->c_str(), nullptr, MS_BIND, nullptr) != 0) {
      return Status::Internal("bind mount " + *base + " on itself: " + ErrnoText(errno));
    }
  }
  if (::mount(nullptr, base->c_str(), nullptr, MS_PRIVATE | MS_REC, nullptr) != 0) {
    return Status::Internal("make " + *base + " private: " + ErrnoText(errno));
  }
  return Status::Ok();
}

Status MountRootfs(const std::string& dir, const std::string& image_disk, const std::string& upper_disk) {
  ZUNVM_RETURN_IF_ERROR(CheckPath(dir, "sandbox dir", true));
  ZUNVM_RETURN_IF_ERROR(CheckPath(image_disk, "image disk", false));
  ZUNVM_RETURN_IF_ERROR(CheckPath(upper_disk, "upper disk", false));
  auto base = Canonical(dir, "sandbox dir");
  if (!base) return base.error();
  ZUNVM_RETURN_IF_ERROR(CheckPath(*base, "sandbox dir (resolved)", true));
  auto image = Canonical(image_disk, "image disk");
  if (!image) return image.error();
  auto upper = Canonical(upper_disk, "upper disk");
  if (!upper) return upper.error();
  auto mounts = ReadMountInfo();
  if (!mounts) return mounts.error();
  ZUNVM_RETURN_IF_ERROR(CheckNotShared(*mounts, *base));
  std::vector<std::string> made;
  Status st = MountSteps(Paths(*base), *mounts, *image, *upper, &made);
  if (!st.ok()) {
    for (auto it = made.rbegin(); it != made.rend(); ++it) (void)UnmountAll(*it);
  }
  return st;
}

Status UnmountRootfs(const std::string& dir) {
  ZUNVM_RETURN_IF_ERROR(CheckPath(dir, "sandbox dir", true));
  auto base = Canonical(dir, "sandbox dir");
  if (!base) return base.error().code() == Code::kNotFound ? Status::Ok() : base.error();
  Paths p(*base);
  for (const std::string* m : {&p.rootfs, &p.upperdisk, &p.lower}) ZUNVM_RETURN_IF_ERROR(UnmountAll(*m));
  for (const std::string* m : {&p.rootfs, &p.upperdisk, &p.lower}) {
    if (::rmdir(m->c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST) {
      return Status::Internal("rmdir " + *m + ": " + ErrnoText(errno));
    }
  }
  return Status::Ok();
}

Status MountVolume(const std::string& dir, const std::string& name, const std::string& disk, bool block,
                   const std::string& fstype, bool read_only) {
  ZUNVM_RETURN_IF_ERROR(CheckPath(dir, "sandbox dir", true));
  ZUNVM_RETURN_IF_ERROR(CheckPath(disk, "volume disk", false));
  if (name.empty() || name.size() > 64 || name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos ||
      name[0] == '.') {
    return Status::Invalid("volume name " + name + " is not 1-64 of [A-Za-z0-9._-]");
  }
  if (fstype != "ext4" && fstype != "xfs" && fstype != "btrfs") return Status::Invalid("volume file system " + fstype + " is not supported");
  auto base = Canonical(dir, "sandbox dir");
  if (!base) return base.error();
  auto source = Canonical(disk, "volume disk");
  if (!source) return source.error();
  ZUNVM_RETURN_IF_ERROR(MakeDir(*base + "/volumes", 0711));
  const std::string target = *base + "/volumes/" + name;
  auto mounts = ReadMountInfo();
  if (!mounts) return mounts.error();
  ZUNVM_RETURN_IF_ERROR(CheckNotShared(*mounts, *base));
  if (MountAt(*mounts, target) != nullptr) return MakePrivate(target);  // mounted before a restart
  if (!block) {
    if (!read_only) ZUNVM_RETURN_IF_ERROR(CheckNotAttached(*source));
    return MountDisk(*source, target, read_only, fstype);
  }
  ZUNVM_RETURN_IF_ERROR(MakeDir(target, 0711));
  return MountPrivate(*source, target, fstype.c_str(), MS_NODEV | (read_only ? MS_RDONLY : 0), nullptr);
}

Status UnmountVolumes(const std::string& dir) {
  ZUNVM_RETURN_IF_ERROR(CheckPath(dir, "sandbox dir", true));
  auto base = Canonical(dir, "sandbox dir");
  if (!base) return base.error().code() == Code::kNotFound ? Status::Ok() : base.error();
  const std::string root = *base + "/volumes";
  DIR* d = ::opendir(root.c_str());
  if (d == nullptr) return errno == ENOENT ? Status::Ok() : Status::Internal("open " + root + ": " + ErrnoText(errno));
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") names.push_back(e->d_name);
  }
  ::closedir(d);
  for (const auto& n : names) {
    ZUNVM_RETURN_IF_ERROR(UnmountAll(root + "/" + n));
    if (::rmdir((root + "/" + n).c_str()) != 0 && errno != ENOENT) {
      return Status::Internal("rmdir " + root + "/" + n + ": " + ErrnoText(errno));
    }
  }
  if (::rmdir(root.c_str()) != 0 && errno != ENOENT) return Status::Internal("rmdir " + root + ": " + ErrnoText(errno));
  return Status::Ok();
}

RootfsState InspectRootfs(const std::string& dir) {
  RootfsState s;
  if (!CheckPath(dir, "sandbox dir", true).ok()) return s;
  auto base = Canonical(dir, "sandbox dir");
  auto mounts = ReadMountInfo();
  if (!base || !mounts) return s;
  Paths p(*base);
  s.lower = MountAt(*mounts, p.lower) != nullptr;
  s.upper = MountAt(*mounts, p.upperdisk) != nullptr;
  s.rootfs = MountAt(*mounts, p.rootfs) != nullptr;
  return s;
}

Status CleanupStaleLoops(const std::string& state_root) {
  ZUNVM_RETURN_IF_ERROR(CheckPath(state_root, "state root", false));
  auto base = Canonical(state_root, "state root");
  if (!base) return base.error().code() == Code::kNotFound ? Status::Ok() : base.error();
  auto mounts = ReadMountInfo();
  if (!mounts) return mounts.error();
  std::set<std::string> mounted;
  for (const auto& m : *mounts) mounted.insert(m.devno);
  Status first = Status::Ok();
  for (const auto& l : BoundLoops()) {
    if (!IsUnder(l.backing, *base) || mounted.count(l.devno) != 0) continue;
    const std::string dev = "/dev/" + l.name;
    UniqueFd fd(::open(dev.c_str(), O_RDONLY | O_CLOEXEC));
    // LOOP_CLR_FD detaches at once only when ours is the device's one open; otherwise the kernel
    // marks it autoclear (older kernels: EBUSY). ENXIO: it went meanwhile.
    if (fd.get() >= 0 && ::ioctl(fd.get(), LOOP_CLR_FD, 0) == 0) continue;
    int e = errno;
    if (e == ENOENT || e == ENXIO || e == EBUSY) continue;
    if (first.ok()) first = Status::Internal("detach " + dev + " (" + l.backing + "): " + ErrnoText(e));
  }
  return first;
}

}  // namespace zunvm::oci
