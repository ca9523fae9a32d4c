#include "driver/libvirt/host_check.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <set>

#include "agent/protocol/message.h"
#include "common/host_probe.h"
#include "common/strings.h"
#include "driver/libvirt/kvm_probe.h"

namespace zunvm::libvirt {

namespace {

void NoopErrorHandler(void*, virErrorPtr) {}

std::string LastError() {
  virErrorPtr e = virGetLastError();
  return e != nullptr && e->message != nullptr ? e->message : "unknown libvirt error";
}

std::string VersionText(unsigned long v) {
  return std::to_string(v / 1000000) + "." + std::to_string(v / 1000 % 1000) + "." + std::to_string(v % 1000);
}

struct ConnClose {
  void operator()(virConnectPtr c) const { virConnectClose(c); }
};

CheckItem Item(std::string name, CheckLevel level, std::string found, std::string fix = {}) {
  return CheckItem{std::move(name), level, std::move(found), std::move(fix)};
}

// The x86_64 guests of libvirt's capabilities XML: emulator path, machine names (aliases such
// as q35 and their canonical names) and domain types.
struct QemuCaps {
  std::string emulator;
  std::set<std::string> machines, domain_types;
};

QemuCaps ParseCaps(const std::string& xml) {
  QemuCaps caps;
  size_t arch = xml.find("<arch name='x86_64'>");
  if (arch == std::string::npos) return caps;
  size_t end = xml.find("</arch>", arch);
  const std::string part = xml.substr(arch, end == std::string::npos ? std::string::npos : end - arch);
  std::smatch m;
  if (std::regex_search(part, m, std::regex("<emulator>([^<]*)</emulator>"))) caps.emulator = m[1];
  static const std::regex machine("<machine([^>]*)>([^<]*)</machine>"), canonical("canonical='([^']*)'"),
      domain("<domain type='([a-z]+)'");
  for (auto it = std::sregex_iterator(part.begin(), part.end(), machine); it != std::sregex_iterator(); ++it) {
    caps.machines.insert((*it)[2]);
    const std::string attrs = (*it)[1];
    std::smatch c;
    if (std::regex_search(attrs, c, canonical)) caps.machines.insert(c[1]);
  }
  for (auto it = std::sregex_iterator(part.begin(), part.end(), domain); it != std::sregex_iterator(); ++it) {
    caps.domain_types.insert((*it)[1]);
  }
  return caps;
}

std::vector<CheckItem> CheckQemu(virConnectPtr conn, const HostCheckInput& in) {
  std::vector<CheckItem> out;
  char* xml = virConnectGetCapabilities(conn);
  if (xml == nullptr) return {Item("qemu", CheckLevel::kFatal, "no capabilities: " + LastError())};
  QemuCaps caps = ParseCaps(xml);
  free(xml);  // NOLINT(cppcoreguidelines-no-malloc): libvirt's allocation
  if (caps.emulator.empty()) {
    return {Item("qemu", CheckLevel::kFatal, "libvirt offers no x86_64 QEMU", "apt-get install qemu-system-x86")};
  }
  std::set<std::string> missing;
  for (const auto& g : in.guests) {
    if (!caps.machines.count(g.machine)) missing.insert(g.machine);
  }
  std::string found = caps.emulator + ", domain types " + Join(std::vector<std::string>(caps.domain_types.begin(), caps.domain_types.end()), ",") +
                      ", machine types " + std::to_string(caps.machines.size());
  if (!missing.empty()) {
    out.push_back(Item("qemu", CheckLevel::kFatal, found + "; missing " + Join(std::vector<std::string>(missing.begin(), missing.end()), ","),
                       "use a machine type QEMU offers ([runtime:NAME] machine)"));
  } else {
    out.push_back(Item("qemu", CheckLevel::kOk, found));
  }
  return out;
}

CheckItem CheckKvm(const HostCheckInput& in) {
  std::vector<std::string> users;
  for (const auto& g : in.guests) {
    if (g.virt_type == "kvm") users.push_back(g.runtime);
  }
  Status st = ProbeKvm(in.kvm_device);
  if (st.ok()) {
    return Item("kvm", CheckLevel::kOk,
                in.kvm_device + " runs a guest" + (users.empty() ? " (not used: virt_type = qemu)" : ""));
  }
  if (users.empty()) return Item("kvm", CheckLevel::kOk, "not used (virt_type = qemu): " + st.message());
  return Item("kvm", CheckLevel::kFatal, st.message() + " (runtimes " + Join(users, ",") + " use virt_type = kvm)",
              "use virt_type = qemu ([libvirt] virt_type, or --virt-type qemu): slower, but it works");
}

CheckItem CheckGuest(const HostCheckInput::Guest& g) {
  const std::string name = "guest image " + g.runtime;
  if (!g.unavailable.empty()) {
    return Item(name, g.is_default ? CheckLevel::kFatal : CheckLevel::kWarn, g.unavailable, "build it, or leave " + g.runtime + " out of [DEFAULT] runtimes");
  }
  auto version = GuestProtocolVersion(g.initrd);
  if (!version) return Item(name, CheckLevel::kWarn, g.initrd + ": " + version.error().message());
  if (*version != agent::kProtocolVersion) {
    return Item(name, CheckLevel::kFatal,
                g.initrd + " speaks agent protocol " + std::to_string(*version) + ", this zunvmd " +
                    std::to_string(agent::kProtocolVersion),
                "rebuild the guest image with this tree's agent (guest/build-image.sh)");
  }
  std::string kernel;
  std::ifstream kv(std::filesystem::path(g.kernel).parent_path() / "kernel.version");
  std::getline(kv, kernel);
  return Item(name, CheckLevel::kOk,
              g.kernel + (kernel.empty() ? "" : " (" + kernel + ")") + ", agent protocol " + std::to_string(*version));
}

CheckItem CheckReachable(const HostCheckInput& in) {
  // A session instance runs QEMU as zunvmd's own user.
  const passwd* self = ::getpwuid(::getuid());
  const std::string user = in.uri.find("/session") != std::string::npos && self != nullptr ? self->pw_name
                                                                                           : QemuUser(in.qemu_conf);
  std::vector<std::string> paths = in.qemu_paths;
  for (const auto& g : in.guests) {
    if (g.unavailable.empty()) paths.insert(paths.end(), {g.kernel, g.initrd});
  }
  for (const std::string& p : paths) {
    Status st = ReachableBy(p, user);
    if (!st.ok()) {
      return Item("reachable by qemu", CheckLevel::kFatal, st.message(),
                  "chmod o+x the directory named (or a=rx for a file's), or move the path under one QEMU can "
                  "reach, e.g. state_dir = /var/lib/zunvm");
    }
  }
  return Item("reachable by qemu", CheckLevel::kOk, "user " + user + " reaches " + Join(paths, ", "));
}

}  // namespace

std::string QemuUser(const std::string& qemu_conf) {
  std::ifstream in(qemu_conf);
  std::string line, user;
  static const std::regex re(R"(^\s*user\s*=\s*"([^"]*)\"\s*(#.*)?$)");
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, re)) user = m[1];
  }
  if (user.empty()) user = "libvirt-qemu";
  if (user[0] == '+') {
    auto uid = ParseInt(user.substr(1));
    const passwd* pw = uid ? ::getpwuid(static_cast<uid_t>(*uid)) : nullptr;
    return pw != nullptr ? pw->pw_name : "root";
  }
  return ::getpwnam(user.c_str()) != nullptr ? user : "root";
}

Result<int> GuestProtocolVersion(const std::string& initrd) {
  std::ifstream in(initrd, std::ios::binary);
  if (!in) return Err(Status::NotFound("cannot read " + initrd));
  const std::string prefix(agent::kProtocolMarker, std::string_view(agent::kProtocolMarker).find_last_of(' ') + 1);
  std::string buf, chunk(1 << 20, '\0');
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    buf.append(chunk.data(), static_cast<size_t>(in.gcount()));
    size_t at = buf.find(prefix);
    if (at != std::string::npos && buf.find(';', at) != std::string::npos) {
      size_t semi = buf.find(';', at);
      auto v = ParseInt(buf.substr(at + prefix.size(), semi - at - prefix.size()));
      if (!v || *v < 0 || *v > 1000000) return Err(Status::Invalid("a malformed agent marker in " + initrd));
      return static_cast<int>(*v);
    }
    // Keep a tail long enough to hold a marker cut by the chunk boundary.
    if (buf.size() > 64) buf.erase(0, buf.size() - 64);
  }
  return Err(Status::NotFound("no zunvm-agent in it (a compressed or foreign image?)"));
}

std::vector<CheckItem> CheckLibvirtHost(const HostCheckInput& in) {
  std::vector<CheckItem> out;
  virSetErrorFunc(nullptr, NoopErrorHandler);  // errors come back as values, not on stderr
  std::unique_ptr<virConnect, ConnClose> conn(virConnectOpen(in.uri.c_str()));
  if (!conn) {
    out.push_back(Item("libvirt", CheckLevel::kFatal, in.uri + ": " + LastError(),
                       "start libvirtd (and virtlogd), or set [libvirt] uri"));
  } else {
    unsigned long lib = 0, hv = 0;
    virConnectGetLibVersion(conn.get(), &lib);
    virConnectGetVersion(conn.get(), &hv);
    out.push_back(Item("libvirt", CheckLevel::kOk,
                       in.uri + ", libvirt " + VersionText(lib) + ", QEMU " + VersionText(hv)));
    for (auto& i : CheckQemu(conn.get(), in)) out.push_back(std::move(i));
  }
  out.push_back(CheckKvm(in));
  for (const auto& g : in.guests) out.push_back(CheckGuest(g));
  out.push_back(CheckReachable(in));
  return out;
}

}  // namespace zunvm::libvirt
