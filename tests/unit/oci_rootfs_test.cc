// A trusted container's root on the host (driver/oci/rootfs.h) with real loop devices and
// mounts: the image's disk read-only under the container's upper disk. After every test nothing
// is mounted under the test's directory and no loop device is backed by its files.
// Needs root and /dev/loop-control; skipped otherwise.
#include "driver/oci/rootfs.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/sha256.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "tests/unit/test_util.h"

namespace zunvm::oci {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
  ASSERT_TRUE(f.good()) << path;
}

std::string Canonical(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : p;
}

bool IsUnder(const std::string& path, const std::string& root) {
  return path == root || StartsWith(path, root + "/");
}

// What the tests look at in /proc/self/mountinfo (mount points have no escaped characters here).
struct Mount {
  std::string devno, mount_point, options, optional, fstype, super_opts;
};

std::vector<Mount> Mounts() {
  std::vector<Mount> out;
  std::ifstream f("/proc/self/mountinfo");
  for (std::string line; std::getline(f, line);) {
    auto v = Split(line, ' ');
    Mount m{v[2], v[4], v[5], "", "", ""};
    size_t i = 6;
    for (; i < v.size() && v[i] != "-"; ++i) m.optional += v[i] + " ";
    if (i + 3 < v.size()) {
      m.fstype = v[i + 1];
      m.super_opts = v[i + 3];
    }
    out.push_back(m);
  }
  return out;
}

std::vector<std::string> MountsUnder(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& m : Mounts()) {
    if (IsUnder(m.mount_point, root)) out.push_back(m.mount_point);
  }
  return out;
}

const Mount* FindMount(const std::vector<Mount>& ms, const std::string& at) {
  const Mount* found = nullptr;
  for (const auto& m : ms) {
    if (m.mount_point == at) found = &m;
  }
  return found;
}

std::string FirstLine(const std::string& file) {
  std::ifstream f(file);
  std::string s;
  std::getline(f, s);
  return s;
}

struct Loop {
  std::string name, devno, backing;
};

// Bound loop devices whose backing file is under `root`.
std::vector<Loop> LoopsUnder(const std::string& root) {
  std::vector<Loop> out;
  for (const auto& e : fs::directory_iterator("/sys/block")) {
    std::string name = e.path().filename();
    if (!StartsWith(name, "loop")) continue;
    std::string backing = FirstLine("/sys/block/" + name + "/loop/backing_file");
    if (!backing.empty() && IsUnder(backing, root)) {
      out.push_back({name, FirstLine("/sys/block/" + name + "/dev"), backing});
    }
  }
  return out;
}

// Those of them that no mount holds, once the kernel had a moment to detach them.
std::vector<std::string> LooseLoopsUnder(const std::string& root) {
  std::vector<std::string> loose;
  for (auto deadline = std::chrono::steady_clock::now() + 2s;; std::this_thread::sleep_for(10ms)) {
    loose.clear();
    auto ms = Mounts();
    for (const auto& l : LoopsUnder(root)) {
      bool mounted = false;
      for (const auto& m : ms) mounted = mounted || m.devno == l.devno;
      if (!mounted) loose.push_back("/dev/" + l.name + " -> " + l.backing);
    }
    if (loose.empty() || std::chrono::steady_clock::now() > deadline) return loose;
  }
}

std::string Join(const std::vector<std::string>& v) { return zunvm::Join(v, ", "); }

#define EXPECT_OK(expr)                              \
  do {                                               \
    ::zunvm::Status _s = (expr);                     \
    EXPECT_TRUE(_s.ok()) << #expr ": " << _s.ToString(); \
  } while (0)
#define ASSERT_OK(expr)                              \
  do {                                               \
    ::zunvm::Status _s = (expr);                     \
    ASSERT_TRUE(_s.ok()) << #expr ": " << _s.ToString(); \
  } while (0)

class OciRootfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (loop devices, mount(2))";
    if (::access("/dev/loop-control", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/loop-control on this machine";
    auto mkfs = RunProcess({"mkfs.ext4", "-V"});
    if (!mkfs || mkfs->exit_code != 0) GTEST_SKIP() << "no mkfs.ext4";
    char tmpl[] = "/var/tmp/zunvm-rootfs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = Canonical(tmpl);
    ASSERT_EQ(::chmod(root_.c_str(), 0711), 0);
    // The image: a small tree as an ext4 disk, made the way images are.
    fs::create_directories(root_ + "/src/etc");
    fs::create_directories(root_ + "/src/bin");
    WriteFile(root_ + "/src/etc/os-release", "ID=zunvm-test\n");
    WriteFile(root_ + "/src/bin/true", "#!/bin/sh\n");
    image_ = root_ + "/image.ext4";
    ASSERT_OK(RunChecked({"truncate", "-s", "16M", image_}));
    ASSERT_OK(RunChecked({"mkfs.ext4", "-q", "-F", "-d", root_ + "/src", image_}));
    upper_ = MakeUpperDisk("upper.ext4");
    dir_ = MakeSandboxDir(root_ + "/sandbox");
  }

  void TearDown() override {
    if (root_.empty()) return;
    auto mounts = MountsUnder(root_);
    EXPECT_TRUE(mounts.empty()) << "left mounted: " << Join(mounts);
    auto loose = LooseLoopsUnder(root_);
    EXPECT_TRUE(loose.empty()) << "loop devices left: " << Join(loose);
    // A failed test must not leave its mess on the machine.
    for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
    for (const auto& l : LoopsUnder(root_)) (void)RunProcess({"losetup", "-d", "/dev/" + l.name});
    if (MountsUnder(root_).empty()) fs::remove_all(root_);
  }

  std::string MakeUpperDisk(const std::string& name) {
    std::string path = root_ + "/" + name;
    EXPECT_OK(RunChecked({"truncate", "-s", "64M", path}));
    EXPECT_OK(RunChecked({"mkfs.ext4", "-q", "-F", path}));
    return path;
  }

  static std::string MakeSandboxDir(const std::string& path) {
    EXPECT_EQ(::mkdir(path.c_str(), 0711), 0) << path;
    return path;
  }

  // Loop devices backed by the test's files, once the count reaches `want` or 5 s have passed:
  // the kernel detaches an auto-clearing device after its last unmount asynchronously.
  size_t LoopCount(size_t want) {
    size_t n = 0;
    testing_util::Eventually([&] { return (n = LoopsUnder(root_).size()) == want; }, std::chrono::seconds(5));
    return n;
  }

  std::string root_, image_, upper_, dir_;
};

TEST_F(OciRootfsTest, MountsTheImageUnderAWritableUpper) {
  RootfsState before = InspectRootfs(dir_);
  EXPECT_FALSE(before.lower || before.upper || before.rootfs);

  ASSERT_OK(MountRootfs(dir_, image_, upper_));
  RootfsState after = InspectRootfs(dir_);
  EXPECT_TRUE(after.lower && after.upper && after.rootfs);
  EXPECT_EQ(ReadFile(dir_ + "/rootfs/etc/os-release"), "ID=zunvm-test\n");
  EXPECT_TRUE(fs::is_directory(dir_ + "/rootfs/bin"));
  WriteFile(dir_ + "/rootfs/hello", "hi\n");
  EXPECT_EQ(ReadFile(dir_ + "/upperdisk/upper/hello"), "hi\n");  // on the container's disk
  EXPECT_TRUE(fs::is_directory(dir_ + "/upperdisk/work"));
  EXPECT_FALSE(fs::exists(dir_ + "/lower/hello"));
  int fd = ::open((dir_ + "/lower/x").c_str(), O_CREAT | O_WRONLY, 0644);
  int open_errno = errno;
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(open_errno, EROFS);

  // The three mounts: ro,noload ext4; rw ext4; overlay; all nodev and private.
  auto ms = Mounts();
  const Mount* lower = FindMount(ms, dir_ + "/lower");
  const Mount* upper = FindMount(ms, dir_ + "/upperdisk");
  const Mount* rootfs = FindMount(ms, dir_ + "/rootfs");
  ASSERT_TRUE(lower && upper && rootfs);
  EXPECT_EQ(lower->fstype, "ext4");
  EXPECT_TRUE(StartsWith(lower->options, "ro,")) << lower->options;
  EXPECT_NE(lower->super_opts.find("norecovery"), std::string::npos) << lower->super_opts;  // noload
  EXPECT_EQ(upper->fstype, "ext4");
  EXPECT_TRUE(StartsWith(upper->options, "rw,")) << upper->options;
  EXPECT_EQ(rootfs->fstype, "overlay");
  EXPECT_NE(rootfs->super_opts.find("upperdir=" + dir_ + "/upperdisk/upper"), std::string::npos);
  for (const Mount* m : {lower, upper, rootfs}) {
    EXPECT_NE(m->options.find("nodev"), std::string::npos) << m->mount_point << " " << m->options;
    EXPECT_EQ(m->optional.find("shared:"), std::string::npos) << m->mount_point << " " << m->optional;
  }

  // Two loop devices, both autoclear, the image's read-only.
  auto loops = LoopsUnder(root_);
  ASSERT_EQ(loops.size(), 2u);
  for (const auto& l : loops) {
    EXPECT_EQ(FirstLine("/sys/block/" + l.name + "/loop/autoclear"), "1") << l.name;
    EXPECT_EQ(FirstLine("/sys/block/" + l.name + "/ro"), l.backing == image_ ? "1" : "0") << l.backing;
    EXPECT_EQ(l.devno, l.backing == image_ ? lower->devno : upper->devno);
  }

  ASSERT_OK(UnmountRootfs(dir_));
  RootfsState gone = InspectRootfs(dir_);
  EXPECT_FALSE(gone.lower || gone.upper || gone.rootfs);
  EXPECT_FALSE(fs::exists(dir_ + "/rootfs"));  // mount points removed: dir can go with rmdir
  EXPECT_EQ(::rmdir(dir_.c_str()), 0);
}

TEST_F(OciRootfsTest, WritesLiveOnTheUpperDiskAndTheImageStaysUnchanged) {
  const std::string image_sum = Sha256Digest(ReadFile(image_));
  ASSERT_OK(MountRootfs(dir_, image_, upper_));
  WriteFile(dir_ + "/rootfs/hello", "hi\n");
  WriteFile(dir_ + "/rootfs/bin/tool", "new\n");
  ASSERT_TRUE(fs::remove(dir_ + "/rootfs/etc/os-release"));
  ASSERT_OK(UnmountRootfs(dir_));
  EXPECT_EQ(Sha256Digest(ReadFile(image_)), image_sum);

  ASSERT_OK(MountRootfs(dir_, image_, upper_));
  EXPECT_EQ(ReadFile(dir_ + "/rootfs/hello"), "hi\n");
  EXPECT_EQ(ReadFile(dir_ + "/rootfs/bin/tool"), "new\n");
  EXPECT_EQ(ReadFile(dir_ + "/rootfs/bin/true"), "#!/bin/sh\n");
  EXPECT_FALSE(fs::exists(dir_ + "/rootfs/etc/os-release"));  // the whiteout is on the upper disk
  EXPECT_EQ(ReadFile(dir_ + "/lower/etc/os-release"), "ID=zunvm-test\n");
  ASSERT_OK(UnmountRootfs(dir_));
  EXPECT_EQ(Sha256Digest(ReadFile(image_)), image_sum);

  // Another container of the same image starts from the image alone.
  std::string other = MakeSandboxDir(root_ + "/other");
  ASSERT_OK(MountRootfs(other, image_, MakeUpperDisk("other.ext4")));
  EXPECT_FALSE(fs::exists(other + "/rootfs/hello"));
  EXPECT_EQ(ReadFile(other + "/rootfs/etc/os-release"), "ID=zunvm-test\n");
  ASSERT_OK(UnmountRootfs(other));
}

TEST_F(OciRootfsTest, MountAndUnmountAreIdempotent) {
  EXPECT_OK(UnmountRootfs(dir_));  // never mounted
  EXPECT_OK(UnmountRootfs(root_ + "/no-such-sandbox"));
  ASSERT_OK(MountRootfs(dir_, image_, upper_));
  ASSERT_OK(MountRootfs(dir_, image_, upper_));
  EXPECT_EQ(MountsUnder(dir_).size(), 3u) << Join(MountsUnder(dir_));
  EXPECT_EQ(LoopCount(2), 2u);
  EXPECT_TRUE(InspectRootfs(dir_).all());
  ASSERT_OK(UnmountRootfs(dir_));
  ASSERT_OK(UnmountRootfs(dir_));
  EXPECT_FALSE(InspectRootfs(dir_).any());
}

// What a zunvmd killed part-way leaves: a prefix. Both calls finish from there.
TEST_F(OciRootfsTest, UnmountAndMountFinishFromWhatACrashLeft) {
  ASSERT_OK(MountRootfs(dir_, image_, upper_));
  ASSERT_EQ(::umount2((dir_ + "/rootfs").c_str(), 0), 0);
  RootfsState s = InspectRootfs(dir_);
  EXPECT_TRUE(s.lower && s.upper && !s.rootfs);
  ASSERT_OK(UnmountRootfs(dir_));
  EXPECT_FALSE(InspectRootfs(dir_).any());
  EXPECT_TRUE(LooseLoopsUnder(root_).empty());
  EXPECT_EQ(LoopCount(0), 0u);

  ASSERT_OK(MountRootfs(dir_, image_, upper_));
  ASSERT_EQ(::umount2((dir_ + "/rootfs").c_str(), 0), 0);
  ASSERT_EQ(::umount2((dir_ + "/upperdisk").c_str(), 0), 0);
  s = InspectRootfs(dir_);
  EXPECT_TRUE(s.lower && !s.upper && !s.rootfs);
  EXPECT_EQ(LoopCount(1), 1u);  // the upper disk's device went with its mount
  ASSERT_OK(MountRootfs(dir_, image_, upper_));
  EXPECT_TRUE(InspectRootfs(dir_).all());
  EXPECT_EQ(MountsUnder(dir_).size(), 3u);
  EXPECT_EQ(ReadFile(dir_ + "/rootfs/etc/os-release"), "ID=zunvm-test\n");
  ASSERT_OK(UnmountRootfs(dir_));
}

// A real SIGKILL at points spread over a whole MountRootfs: always a prefix, and never a loop
// device that no mount holds (autoclear detaches the one being set up with its dying owner).
TEST_F(OciRootfsTest, SigkillAtAnyStepLeavesAPrefixAndNoLooseLoopDevice) {
  std::chrono::steady_clock::duration whole{};  // the longest of three whole mounts
  for (int i = 0; i < 3; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_OK(MountRootfs(dir_, image_, upper_));
    whole = std::max(whole, std::chrono::steady_clock::now() - t0);
    ASSERT_OK(UnmountRootfs(dir_));
  }
  std::map<std::string, int> seen;
  constexpr int kRuns = 40;
  for (int i = 0; i < kRuns; ++i) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {  // tells the parent it starts, so the delay counts from the call
      ::close(ready[0]);
      if (::write(ready[1], "x", 1) != 1) _exit(2);
      _exit(MountRootfs(dir_, image_, upper_).ok() ? 0 : 1);
    }
    ::close(ready[1]);
    char c;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    std::this_thread::sleep_for(whole * i * 3 / (2 * kRuns));  // the last ones let it finish
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    RootfsState s = InspectRootfs(dir_);
    EXPECT_TRUE((!s.upper || s.lower) && (!s.rootfs || s.upper))
        << "run " << i << ": " << s.lower << s.upper << s.rootfs;
    auto loose = LooseLoopsUnder(root_);
    EXPECT_TRUE(loose.empty()) << "run " << i << ": " << Join(loose);
    ++seen[std::string(s.lower ? "L" : "-") + (s.upper ? "U" : "-") + (s.rootfs ? "R" : "-")];
    ASSERT_OK(UnmountRootfs(dir_));
    EXPECT_FALSE(InspectRootfs(dir_).any());
  }
  std::string states;
  for (const auto& [k, n] : seen) states += k + "x" + std::to_string(n) + " ";
  std::cout << "[          ] a whole mount took " << std::chrono::duration<double, std::milli>(whole).count()
            << " ms; states left by the kills: " << states << "\n";
  RecordProperty("states", states);
}

TEST_F(OciRootfsTest, ABusyMountIsAnErrorNamingIt) {
  ASSERT_OK(MountRootfs(dir_, image_, upper_));
  int fd = ::open((dir_ + "/rootfs/etc/os-release").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  Status st = UnmountRootfs(dir_);
  EXPECT_EQ(st.code(), Code::kConflict) << st.ToString();
  EXPECT_NE(st.message().find(dir_ + "/rootfs"), std::string::npos) << st.message();
  EXPECT_TRUE(InspectRootfs(dir_).all());  // nothing unmounted lazily, nothing under it pulled away
  EXPECT_EQ(MountsUnder(dir_).size(), 3u);
  ::close(fd);
  ASSERT_OK(UnmountRootfs(dir_));
}

TEST_F(OciRootfsTest, RefusesBadPathsAndMissingDisks) {
  for (const std::string& bad : {std::string("relative/dir"), dir_ + "/../sandbox", dir_ + "/./x",
                                 root_ + "/a,b", root_ + "/a:b", std::string()}) {
    EXPECT_EQ(MountRootfs(bad, image_, upper_).code(), Code::kInvalidArgument) << bad;
    EXPECT_EQ(UnmountRootfs(bad).code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_EQ(MountRootfs(dir_, "image.ext4", upper_).code(), Code::kInvalidArgument);
  EXPECT_EQ(MountRootfs(dir_, image_, root_ + "/../x/upper.ext4").code(), Code::kInvalidArgument);
  EXPECT_EQ(MountRootfs(dir_, root_ + "/missing.ext4", upper_).code(), Code::kNotFound);
  EXPECT_EQ(MountRootfs(root_ + "/missing", image_, upper_).code(), Code::kNotFound);
  // The upper disk missing: found before anything is mounted.
  Status st = MountRootfs(dir_, image_, root_ + "/missing.ext4");
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
  // A disk that is no ext4: the lower this call mounted is undone again.
  WriteFile(root_ + "/junk.img", std::string(1 << 20, '\0'));
  st = MountRootfs(dir_, image_, root_ + "/junk.img");
  EXPECT_EQ(st.code(), Code::kInternal) << st.ToString();
  EXPECT_FALSE(InspectRootfs(dir_).any());
  EXPECT_EQ(CleanupStaleLoops("relative").code(), Code::kInvalidArgument);
}

TEST_F(OciRootfsTest, RefusesAnotherDiskOnAMountPointAndAnUpperDiskInUse) {
  ASSERT_OK(MountRootfs(dir_, image_, upper_));
  std::string other_upper = MakeUpperDisk("other.ext4");
  Status st = MountRootfs(dir_, image_, other_upper);
  EXPECT_EQ(st.code(), Code::kConflict) << st.ToString();
  EXPECT_NE(st.message().find(dir_ + "/upperdisk"), std::string::npos) << st.message();
  st = MountRootfs(dir_, other_upper, upper_);  // another image under the lower
  EXPECT_EQ(st.code(), Code::kConflict) << st.ToString();
  EXPECT_EQ(MountsUnder(dir_).size(), 3u);  // what was there stays

  // A second sandbox may share the image, never the writable disk.
  std::string second = MakeSandboxDir(root_ + "/second");
  st = MountRootfs(second, image_, upper_);
  EXPECT_EQ(st.code(), Code::kConflict) << st.ToString();
  EXPECT_NE(st.message().find("already on /dev/loop"), std::string::npos) << st.message();
  EXPECT_FALSE(InspectRootfs(second).any());
  ASSERT_OK(MountRootfs(second, image_, other_upper));
  EXPECT_EQ(LoopCount(4), 4u);
  ASSERT_OK(UnmountRootfs(second));
  ASSERT_OK(UnmountRootfs(dir_));
}

// Under a shared mount the container's mounts would be copied to its peers, and copies made
// before a mount is set private outlive its unmount: refused. Under a root made private they
// stay where they are made.
TEST_F(OciRootfsTest, MountsDoNotPropagate) {
  const std::string shared = MakeSandboxDir(root_ + "/shared"), peer = MakeSandboxDir(root_ + "/peer");
  ASSERT_EQ(::mount("tmpfs", shared.c_str(), "tmpfs", 0, "size=1m,mode=0711"), 0);
  ASSERT_EQ(::mount(nullptr, shared.c_str(), nullptr, MS_SHARED, nullptr), 0);
  ASSERT_EQ(::mount(shared.c_str(), peer.c_str(), nullptr, MS_BIND, nullptr), 0);  // a peer of it
  const std::string unsafe = MakeSandboxDir(shared + "/sb");
  Status st = MountRootfs(unsafe, image_, upper_);
  EXPECT_EQ(st.code(), Code::kInternal) << st.ToString();
  EXPECT_NE(st.message().find("shared mount " + shared), std::string::npos) << st.message();
  EXPECT_EQ(MountsUnder(root_), (std::vector<std::string>{shared, peer}));

  EXPECT_EQ(MakePrivateMountRoot(root_).code(), Code::kInvalidArgument);  // would hide `shared`
  const std::string sandboxes = MakeSandboxDir(shared + "/sandboxes");
  ASSERT_OK(MakePrivateMountRoot(sandboxes));
  ASSERT_OK(MakePrivateMountRoot(sandboxes));
  const std::string sb = MakeSandboxDir(sandboxes + "/sb");
  ASSERT_OK(MountRootfs(sb, image_, upper_));
  EXPECT_TRUE(InspectRootfs(sb).all());
  // The peer received the one-time bind of the root, none of the container's mounts.
  EXPECT_EQ(MountsUnder(peer), (std::vector<std::string>{peer, peer + "/sandboxes"}));
  ASSERT_OK(UnmountRootfs(sb));
  EXPECT_EQ(LoopCount(0), 0u);

  for (const std::string& m : {sandboxes, peer + "/sandboxes", peer, shared}) {
    auto ms = Mounts();
    if (FindMount(ms, m) != nullptr) {
      EXPECT_EQ(::umount2(m.c_str(), 0), 0) << m << ": " << std::strerror(errno);
    }
  }
}

TEST_F(OciRootfsTest, CleanupStaleLoopsDetachesOnlyUnusedLoopsUnderTheRoot) {
  // A loop device bound without autoclear that nothing mounts: what a crash between setup and
  // mount leaves when autoclear is not used.
  WriteFile(root_ + "/stale.img", std::string(1 << 20, '\0'));
  auto r = RunProcess({"losetup", "--find", "--show", root_ + "/stale.img"});
  ASSERT_TRUE(r && r->exit_code == 0) << (r ? r->output : r.error().ToString());
  std::string stale = Trim(r->output);
  // One outside the state root, and this sandbox's own, in use.
  char tmpl[] = "/var/tmp/zunvm-rootfs-other-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string outside_dir = Canonical(tmpl), outside = outside_dir + "/outside.img";
  WriteFile(outside, std::string(1 << 20, '\0'));
  r = RunProcess({"losetup", "--find", "--show", outside});
  ASSERT_TRUE(r && r->exit_code == 0) << (r ? r->output : r.error().ToString());
  std::string outside_loop = Trim(r->output);
  ASSERT_OK(MountRootfs(dir_, image_, upper_));
  ASSERT_EQ(LoopCount(3), 3u);

  ASSERT_OK(CleanupStaleLoops(root_));
  EXPECT_TRUE(LooseLoopsUnder(root_).empty());
  EXPECT_EQ(LoopCount(2), 2u);  // the sandbox's, still mounted
  EXPECT_EQ(ReadFile(dir_ + "/rootfs/etc/os-release"), "ID=zunvm-test\n");
  EXPECT_EQ(LoopsUnder(outside_dir).size(), 1u);

  // A stale device someone holds open is not torn away: it goes with its last close.
  r = RunProcess({"losetup", "--find", "--show", root_ + "/stale.img"});
  ASSERT_TRUE(r && r->exit_code == 0);
  stale = Trim(r->output);
  int fd = ::open(stale.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_OK(CleanupStaleLoops(root_));
  EXPECT_EQ(LoopCount(3), 3u);
  ::close(fd);
  EXPECT_TRUE(LooseLoopsUnder(root_).empty());

  EXPECT_OK(RunChecked({"losetup", "-d", outside_loop}));
  fs::remove_all(outside_dir);
  ASSERT_OK(UnmountRootfs(dir_));
}

// A volume's disk file: mounted under dir/volumes/<name> on its own loop device, written
// through, kept when mounted again, one writer only, read-only when asked, gone after
// UnmountVolumes with its loop device.
TEST_F(OciRootfsTest, VolumesMountUnderTheSandboxAndLeaveNothing) {
  const std::string disk = MakeUpperDisk("vol.ext4");
  ASSERT_OK(MountVolume(dir_, "v1", disk, false, "ext4", false));
  ASSERT_OK(MountVolume(dir_, "v1", disk, false, "ext4", false));  // again: kept
  WriteFile(dir_ + "/volumes/v1/data", "kept\n");
  const auto mounts = Mounts();
  const Mount* m = FindMount(mounts, dir_ + "/volumes/v1");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->fstype, "ext4");
  EXPECT_NE(m->options.find("nodev"), std::string::npos);
  EXPECT_EQ(LoopCount(1), 1u);
  // A second writer of the same disk (another sandbox) is refused; a reader is not.
  const std::string other = MakeSandboxDir(root_ + "/other");
  EXPECT_EQ(MountVolume(other, "v1", disk, false, "ext4", false).code(), Code::kConflict);
  EXPECT_EQ(MountVolume(dir_, "../x", disk, false, "ext4", false).code(), Code::kInvalidArgument);
  EXPECT_EQ(MountVolume(dir_, "v2", disk, false, "vfat", false).code(), Code::kInvalidArgument);
  ASSERT_OK(UnmountVolumes(dir_));
  ASSERT_OK(MountVolume(other, "ro", disk, false, "ext4", true));
  EXPECT_EQ(ReadFile(other + "/volumes/ro/data"), "kept\n");
  int fd = ::open((other + "/volumes/ro/new").c_str(), O_CREAT | O_WRONLY, 0644);
  EXPECT_LT(fd, 0);
  EXPECT_EQ(errno, EROFS);
  if (fd >= 0) ::close(fd);
  ASSERT_OK(UnmountVolumes(other));
  ASSERT_OK(UnmountVolumes(other));  // idempotent
  EXPECT_TRUE(MountsUnder(root_).empty());
  EXPECT_TRUE(LooseLoopsUnder(root_).empty());
  EXPECT_FALSE(fs::exists(dir_ + "/volumes"));
}

}  // namespace
}  // namespace zunvm::oci
