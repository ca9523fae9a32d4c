#include "common/runtime_config.h"

#include <algorithm>
#include <cctype>

#include "common/strings.h"

namespace zunvm {

namespace {

Status Expected(const std::string& what) { return Status::Invalid("expected " + what); }

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

Status Bad(const RuntimeProfile& p, const std::string& option, const std::string& why) {
  return Status::Invalid("invalid option [runtime:" + p.name + "] " + option + ": " + why);
}

}  // namespace

const char* RuntimeTypeName(RuntimeType t) { return t == RuntimeType::kOci ? "oci" : "vm"; }

std::vector<RuntimeProfile> BuiltinRuntimes() {
  RuntimeProfile kata;
  kata.name = "kata";
  RuntimeProfile debian;
  debian.name = "kata-debian";
  debian.kernel = "guest-debian/vmlinux";
  debian.initrd = "guest-debian/initramfs.cpio";
  RuntimeProfile runc;
  runc.name = "runc";
  runc.type = RuntimeType::kOci;
  runc.binary = "/usr/bin/runc";
  runc.monitor = "/usr/bin/conmon";
  RuntimeProfile crun = runc;
  crun.name = "crun";
  crun.binary = "/usr/bin/crun";
  return {kata, debian, runc, crun};
}

const std::vector<std::string>& RuntimeOptionNames() {
  static const std::vector<std::string> names = {"type",       "kernel",        "initrd",  "machine",
                                                 "virt_type",  "vcpus",         "memory_mib",
                                                 "kernel_params", "hostdev",    "binary",  "monitor"};
  return names;
}

bool ValidRuntimeName(const std::string& name) {
  if (name.empty() || name.size() > 64 || !std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

bool ValidPciAddress(const std::string& a) {
  // dddd:bb:ss.f
  if (a.size() != 12 || a[4] != ':' || a[7] != ':' || a[10] != '.') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!IsHex(a[i])) return false;
  }
  if (a[11] < '0' || a[11] > '7') return false;
  // Slots are 5 bits: 00..1f.
  return a[8] <= '1';
}

Status SetRuntimeOption(RuntimeProfile& p, const std::string& key, const std::string& value) {
  if (key == "type") {
    if (value == "vm") {
      p.type = RuntimeType::kVm;
    } else if (value == "oci") {
      p.type = RuntimeType::kOci;
    } else {
      return Expected("vm or oci");
    }
  } else if (key == "kernel") {
    p.kernel = value;
  } else if (key == "initrd") {
    p.initrd = value;
  } else if (key == "machine") {
    p.machine = value;
  } else if (key == "virt_type") {
    p.virt_type = value;
  } else if (key == "vcpus") {
    auto v = ParseDouble(value);
    if (!v) return Expected("a number");
    p.vcpus = *v;
  } else if (key == "memory_mib") {
    auto v = ParseInt(value);
    if (!v) return Expected("an integer");
    p.memory_mib = *v;
  } else if (key == "kernel_params") {
    p.kernel_params = value;
  } else if (key == "hostdev") {
    p.hostdev.clear();
    for (const auto& item : Split(value, ',')) {
      std::string t = Trim(item);
      if (!t.empty()) p.hostdev.push_back(std::move(t));
    }
  } else if (key == "binary") {
    p.binary = value;
  } else if (key == "monitor") {
    p.monitor = value;
  } else {
    return Status::Invalid("unknown option");
  }
  return Status::Ok();
}

Status ValidateRuntimeProfile(const RuntimeProfile& p) {
  if (p.type == RuntimeType::kOci) {
    if (p.binary.empty() || p.binary[0] != '/') return Bad(p, "binary", "must be an absolute path (/usr/bin/runc)");
    if (!p.monitor.empty() && p.monitor[0] != '/') return Bad(p, "monitor", "must be an absolute path");
    if (!p.kernel.empty() || !p.initrd.empty()) return Bad(p, "kernel", "applies to type = vm only");
    if (!p.hostdev.empty()) return Bad(p, "hostdev", "applies to type = vm only");
    if (!p.kernel_params.empty()) return Bad(p, "kernel_params", "applies to type = vm only");
    return Status::Ok();
  }
  if (!p.binary.empty() || !p.monitor.empty()) {
    return Bad(p, p.binary.empty() ? "monitor" : "binary", "applies to type = oci only");
  }
  if (p.kernel.empty() != p.initrd.empty()) {
    return Bad(p, p.kernel.empty() ? "kernel" : "initrd", "kernel and initrd go together (both empty: [guest]'s)");
  }
  if (p.machine == "microvm") {
    return Bad(p, "machine", "microvm is not supported yet: our domains need q35's PCIe root ports");
  }
  if (p.machine != "q35") return Bad(p, "machine", "must be q35");
  if (!p.virt_type.empty() && p.virt_type != "kvm" && p.virt_type != "qemu") {
    return Bad(p, "virt_type", "must be kvm or qemu (empty: [libvirt] virt_type)");
  }
  if (!(p.vcpus >= 0 && p.vcpus <= 1024)) return Bad(p, "vcpus", "must be between 0 and 1024");
  if (p.memory_mib < 0 || p.memory_mib > (int64_t{1} << 24)) return Bad(p, "memory_mib", "must be between 0 and 16777216");
  if (p.kernel_params.find_first_of("\r\n") != std::string::npos || p.kernel_params.size() > 1024) {
    return Bad(p, "kernel_params", "must be one line of at most 1024 characters");
  }
  for (const auto& d : p.hostdev) {
    if (!ValidPciAddress(d)) return Bad(p, "hostdev", "\"" + d + "\" is not a PCI address like 0000:3b:00.0");
  }
  if (p.hostdev.size() > 8) return Bad(p, "hostdev", "at most 8 devices");
  return Status::Ok();
}

}  // namespace zunvm
