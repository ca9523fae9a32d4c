// The host check's probes and its report (app/host_check.h), on this host's real kernel:
// directories QEMU's user cannot pass, KVM devices that are not, guest images and their agent.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "agent/protocol/message.h"
#include "app/host_check.h"
#include "common/host_probe.h"
#include "driver/libvirt/host_check.h"
#include "driver/libvirt/kvm_probe.h"
#include "service/host_info.h"
#include "tests/unit/test_util.h"

namespace zunvm {
namespace {

using testing_util::TempDir;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(HostProbe, ReachableByNamesTheFirstDirectoryTheUserCannotSearch) {
  TempDir tmp;
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0700), 0);
  const std::string state = tmp.path() + "/state";
  ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
  // The path itself is zunvmd's to set: only the directories above it count.
  Status st = ReachableBy(state, "nobody");
  EXPECT_EQ(st.code(), Code::kForbidden);
  EXPECT_NE(st.message().find("may not search " + tmp.path() + " (mode 0700, owner root)"), std::string::npos)
      << st.message();
  EXPECT_EQ(ReachableBy(state + "/not/yet/made", "nobody").code(), Code::kForbidden);
  EXPECT_TRUE(ReachableBy(state, "root").ok());

  ASSERT_EQ(::chmod(tmp.path().c_str(), 0711), 0);
  EXPECT_TRUE(ReachableBy(state, "nobody").ok()) << ReachableBy(state, "nobody").message();
  EXPECT_TRUE(ReachableBy(state + "/", "nobody").ok());
  // Below the 0700 state dir, the state dir is in the way.
  EXPECT_EQ(ReachableBy(state + "/disks/a.img", "nobody").code(), Code::kForbidden);

  EXPECT_EQ(ReachableBy(state, "no-such-user-zunvm").code(), Code::kNotFound);
  EXPECT_EQ(ReachableBy("relative", "nobody").code(), Code::kInvalidArgument);
}

TEST(HostProbe, FreeBytesMemoryAndCgroups) {
  TempDir tmp;
  auto here = FreeBytes(tmp.path());
  auto below = FreeBytes(tmp.path() + "/a/b");  // not made yet: its filesystem is the parent's
  ASSERT_TRUE(here && below);
  EXPECT_GT(*here, 0u);
  EXPECT_NEAR(static_cast<double>(*here), static_cast<double>(*below), 64.0 * 1024 * 1024);
  auto mem = ReadMeminfo();  // what the memory check reads
  ASSERT_TRUE(mem);
  EXPECT_GT(static_cast<uint64_t>(mem->available_kib) * 1024, 1u << 20);
  EXPECT_EQ(CgroupLayout(tmp.path()), "v1");  // no cgroup2 there
  const std::string layout = CgroupLayout();
  EXPECT_TRUE(layout == "v1" || layout == "v2" || layout == "hybrid") << layout;
}

TEST(KvmProbe, SaysWhatIsWrongWithADevice) {
  Status st = libvirt::ProbeKvm("/nonexistent/kvm");
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("does not exist"), std::string::npos) << st.message();
  st = libvirt::ProbeKvm("/dev/null");
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("not a KVM device"), std::string::npos) << st.message();
}

TEST(GuestImageCheck, FindsTheAgentsProtocolEvenAcrossReadChunks) {
  TempDir tmp;
  const std::string initrd = tmp.path() + "/initramfs.cpio";
  WriteFile(initrd, std::string(100, 'x') + agent::kProtocolMarker + "rest");
  auto v = libvirt::GuestProtocolVersion(initrd);
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_EQ(*v, agent::kProtocolVersion);
  // The marker straddling the 1 MiB read boundary.
  WriteFile(initrd, std::string((1 << 20) - 10, '\0') + "zunvm-agent protocol 17;");
  v = libvirt::GuestProtocolVersion(initrd);
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_EQ(*v, 17);
  WriteFile(initrd, std::string(3 << 20, 'y'));
  EXPECT_EQ(libvirt::GuestProtocolVersion(initrd).error().code(), Code::kNotFound);
  WriteFile(initrd, "zunvm-agent protocol 99999999999999999999;");
  EXPECT_EQ(libvirt::GuestProtocolVersion(initrd).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(libvirt::GuestProtocolVersion(tmp.path() + "/missing").error().code(), Code::kNotFound);
}

TEST(GuestImageCheck, QemuUserComesFromQemuConf) {
  TempDir tmp;
  const std::string conf = tmp.path() + "/qemu.conf";
  WriteFile(conf, "#user = \"root\"\nuser = \"nobody\"  # the qemu user\ngroup = \"kvm\"\n");
  EXPECT_EQ(libvirt::QemuUser(conf), "nobody");
  WriteFile(conf, "user = \"+0\"\n");
  EXPECT_EQ(libvirt::QemuUser(conf), "root");
  WriteFile(conf, "user = \"no-such-user-zunvm\"\n");
  EXPECT_EQ(libvirt::QemuUser(conf), "root");  // as libvirt would fail to start otherwise
  const std::string fallback = libvirt::QemuUser(tmp.path() + "/missing.conf");
  EXPECT_TRUE(fallback == "libvirt-qemu" || fallback == "root") << fallback;
}

TEST(HostCheckReport, TableAndJsonSayWhatFailedAndHowToFixIt) {
  std::vector<CheckItem> items{{"libvirt", CheckLevel::kOk, "qemu:///system, libvirt 9.0.0", ""},
                               {"kvm", CheckLevel::kFatal, "/dev/kvm does not exist", "use virt_type = qemu"},
                               {"cgroups", CheckLevel::kWarn, "hybrid", "boot with cgroup v2"}};
  const std::string table = CheckTable(items);
  EXPECT_NE(table.find("kvm      FAIL    /dev/kvm does not exist\n"), std::string::npos) << table;
  EXPECT_NE(table.find("fix: use virt_type = qemu"), std::string::npos) << table;
  EXPECT_NE(table.find("fix: boot with cgroup v2"), std::string::npos) << table;
  EXPECT_NE(table.find("cannot run on this host"), std::string::npos) << table;
  nlohmann::json j = CheckJson(items);
  EXPECT_FALSE(j["ok"].get<bool>());
  ASSERT_EQ(j["checks"].size(), 3u);
  EXPECT_EQ(j["checks"][1]["result"], "fail");
  EXPECT_EQ(j["checks"][2]["result"], "warn");
  items.erase(items.begin() + 1);
  EXPECT_TRUE(CheckJson(items)["ok"].get<bool>());
  EXPECT_NE(CheckTable(items).find("this host can run zunvmd"), std::string::npos);
}

TEST(HostCheckReport, BasicsRefuseAStateDirWithoutRoom) {
  testing_util::SmallTmpfs small("16m");
  ASSERT_TRUE(small.mounted());
  Config cfg;
  cfg.state_dir = small.path() + "/state";
  std::vector<CheckItem> items = CheckHostBasics(cfg);
  ASSERT_FALSE(items.empty());
  EXPECT_EQ(items[0].name, "state dir");
  EXPECT_EQ(items[0].level, CheckLevel::kFatal) << items[0].found;
  EXPECT_NE(items[0].found.find(cfg.state_dir), std::string::npos);
  EXPECT_TRUE(AnyFatal(items));
}

TEST(HostCheckReport, OpenFilesWarnsOnALowHardLimit) {
  struct rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  Config cfg;
  cfg.state_dir = "/tmp";
  auto open_files = [&] {
    for (const CheckItem& i : CheckHostBasics(cfg)) {
      if (i.name == "open files") return i;
    }
    return CheckItem{};
  };
  CheckItem now = open_files();
  EXPECT_NE(now.found.find("hard limit " + std::to_string(saved.rlim_max)), std::string::npos) << now.found;
  // Lowering the hard limit cannot be undone without CAP_SYS_RESOURCE: do it in a child.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct rlimit low{512, 1024};
    if (::setrlimit(RLIMIT_NOFILE, &low) != 0) ::_exit(2);
    CheckItem i = open_files();
    ::_exit(i.level == CheckLevel::kWarn && i.found == "hard limit 1024, soft 512" &&
                    i.fix.find("LimitNOFILE") != std::string::npos
                ? 0
                : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace zunvm
