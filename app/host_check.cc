#include "app/host_check.h"

#include <algorithm>
#include <cctype>

#include "app/driver_factory.h"
#include "common/host_probe.h"
#include "driver/libvirt/host_check.h"
#include "network/network_check.h"
#include "service/host_info.h"

namespace zunvm {

namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

std::string MiB(uint64_t bytes) { return std::to_string(bytes / kMiB) + " MiB"; }

CheckItem CheckStateDir(const Config& cfg) {
  auto free = FreeBytes(cfg.state_dir);
  if (!free) return {"state dir", CheckLevel::kFatal, cfg.state_dir + ": " + free.error().message(), ""};
  std::string found = cfg.state_dir + ": " + MiB(*free) + " free";
  if (*free < 256 * kMiB) {
    return {"state dir", CheckLevel::kFatal, found, "free space there, or set [DEFAULT] state_dir elsewhere"};
  }
  if (*free < 2048 * kMiB) return {"state dir", CheckLevel::kWarn, found, "images and disks need more room"};
  return {"state dir", CheckLevel::kOk, found, ""};
}

CheckItem CheckCgroups() {
  const std::string layout = CgroupLayout();
  if (layout == "v2") return {"cgroups", CheckLevel::kOk, "v2", ""};
  return {"cgroups", CheckLevel::kWarn, layout + (layout == "hybrid" ? " (v2 mounted, controllers in v1)" : ""),
          "limits and stats use v1 here; boot with systemd.unified_cgroup_hierarchy=1 for cgroup v2"};
}

// zunvmd raises its soft limit to the hard one at start (app/zunvmd_main.cc): the hard one is
// what bounds idle client connections, consoles and disks.
CheckItem CheckOpenFiles() {
  constexpr uint64_t kWant = 4096;
  const FileLimit lim = OpenFileLimit();
  std::string found = "hard limit " + std::to_string(lim.hard) + ", soft " + std::to_string(lim.soft);
  if (lim.hard < kWant) {
    return {"open files", CheckLevel::kWarn, found,
            "raise the hard limit to " + std::to_string(kWant) + " or more (LimitNOFILE= in the unit, ulimit -Hn)"};
  }
  return {"open files", CheckLevel::kOk, found, ""};
}

// The memory of the default VM container, and the pool's members on top of one more.
CheckItem CheckMemory(const Config& cfg) {
  auto mem = ReadMeminfo();
  if (!mem) return {"memory", CheckLevel::kWarn, mem.error().message(), ""};
  const auto avail = static_cast<uint64_t>(mem->available_kib) * 1024;
  const RuntimeProfile* def = cfg.FindRuntime(cfg.default_runtime);
  const int64_t guest_mib = def != nullptr && def->memory_mib > 0 ? def->memory_mib : cfg.default_memory;
  const uint64_t one = static_cast<uint64_t>(guest_mib) * kMiB, want = one * static_cast<uint64_t>(cfg.pool_size + 1);
  std::string found = MiB(avail) + " available; a default guest takes " + MiB(one) +
                      (cfg.pool_size > 0 ? ", the pool " + std::to_string(cfg.pool_size) + " more" : "");
  if (avail < one) return {"memory", CheckLevel::kFatal, found, "free memory, or lower [DEFAULT] default_memory"};
  if (avail < want) return {"memory", CheckLevel::kWarn, found, "lower [pool] size"};
  return {"memory", CheckLevel::kOk, found, ""};
}

libvirt::HostCheckInput LibvirtInput(const Config& cfg) {
  libvirt::HostCheckInput in;
  in.uri = cfg.libvirt_uri;
  in.qemu_paths.push_back(cfg.state_dir);
  if (cfg.pool_size > 0 && cfg.pool_use_templates) in.qemu_paths.push_back(cfg.pool_template_dir);
  for (const std::string& name : cfg.runtimes) {
    const RuntimeProfile* p = cfg.FindRuntime(name);
    if (p == nullptr || p->type != RuntimeType::kVm) continue;
    libvirt::HostCheckInput::Guest g{.runtime = name, .machine = p->machine,
                                     .virt_type = p->virt_type.empty() ? cfg.virt_type : p->virt_type,
                                     .is_default = name == cfg.default_runtime};
    auto profile = ResolveVmRuntime(cfg, *p);
    if (profile) {
      g.kernel = profile->kernel;
      g.initrd = profile->initrd;
    } else {
      g.unavailable = profile.error().message();
    }
    in.guests.push_back(std::move(g));
  }
  return in;
}

}  // namespace

std::vector<CheckItem> CheckHostBasics(const Config& cfg) { return {CheckStateDir(cfg), CheckCgroups(), CheckOpenFiles()}; }

std::vector<CheckItem> CheckHost(const Config& cfg) {
  std::vector<CheckItem> out = CheckHostBasics(cfg);
  if (cfg.container_driver != "libvirt") return out;
  out.push_back(CheckMemory(cfg));
  for (auto& i : libvirt::CheckLibvirtHost(LibvirtInput(cfg))) out.push_back(std::move(i));
  for (auto& i : CheckNetworkHost({.nat = cfg.network_nat, .ovs_bridge = cfg.ovs_bridge})) out.push_back(std::move(i));
  return out;
}

std::string CheckTable(const std::vector<CheckItem>& items) {
  size_t width = 5;
  for (const auto& i : items) width = std::max(width, i.name.size());
  auto pad = [](std::string s, size_t n) { return s.size() < n ? s + std::string(n - s.size(), ' ') : s; };
  std::string out = pad("CHECK", width) + "  RESULT  FOUND\n";
  for (const auto& i : items) {
    out += pad(i.name, width) + "  " + pad(CheckLevelName(i.level), 6) + "  " + i.found + "\n";
    if (!i.fix.empty() && i.level != CheckLevel::kOk) out += std::string(width + 10, ' ') + "fix: " + i.fix + "\n";
  }
  out += AnyFatal(items) ? "zunvmd cannot run on this host as configured\n" : "this host can run zunvmd\n";
  return out;
}

nlohmann::json CheckJson(const std::vector<CheckItem>& items) {
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& i : items) {
    std::string result = CheckLevelName(i.level);
    std::transform(result.begin(), result.end(), result.begin(), [](unsigned char c) { return std::tolower(c); });
    checks.push_back({{"name", i.name}, {"result", result}, {"found", i.found}, {"fix", i.fix}});
  }
  return {{"ok", !AnyFatal(items)}, {"checks", checks}};
}

}  // namespace zunvm
