#include "driver/libvirt/domain_xml.h"

#include <cctype>
#include <cmath>
#include <sstream>
#include <utility>

#include "common/ids.h"

namespace zunvm::libvirt {

namespace {

// Writes nested elements; Open/Close pair up, attributes and text are escaped.
class XmlWriter {
 public:
  using Attrs = std::vector<std::pair<std::string, std::string>>;
  XmlWriter& Open(const std::string& tag, const Attrs& attrs = {}) {
    Start(tag, attrs);
    out_ << '>';
    stack_.push_back(tag);
    return *this;
  }
  XmlWriter& Close() {
    out_ << "</" << stack_.back() << '>';
    stack_.pop_back();
    return *this;
  }
  XmlWriter& Empty(const std::string& tag, const Attrs& attrs = {}) {
    Start(tag, attrs);
    out_ << "/>";
    return *this;
  }
  XmlWriter& Text(const std::string& tag, const std::string& text, const Attrs& attrs = {}) {
    Start(tag, attrs);
    out_ << '>' << XmlEscape(text) << "</" << tag << '>';
    return *this;
  }
  std::string str() const { return out_.str(); }

 private:
  void Start(const std::string& tag, const Attrs& attrs) {
    out_ << '<' << tag;
    for (const auto& [k, v] : attrs) out_ << ' ' << k << "='" << XmlEscape(v) << '\'';
  }
  std::ostringstream out_;
  std::vector<std::string> stack_;
};

void WriteInterface(XmlWriter& w, const NicConfig& n) {
  bool ovs = n.kind == NicConfig::Kind::kOpenvswitch;
  w.Open("interface", {{"type", ovs ? "bridge" : "ethernet"}});
  w.Empty("mac", {{"address", n.mac}});
  if (ovs) {
    w.Empty("source", {{"bridge", n.bridge}});
    w.Open("virtualport", {{"type", "openvswitch"}}).Empty("parameters", {{"interfaceid", n.port_id}}).Close();
    w.Empty("target", {{"dev", n.dev}});
  } else if (n.kind == NicConfig::Kind::kTap) {
    w.Empty("target", {{"dev", n.dev}, {"managed", "no"}});
  }
  w.Empty("model", {{"type", "virtio"}});
  if (n.kind == NicConfig::Kind::kIsolated) w.Empty("link", {{"state", "down"}});
  if (n.mtu > 0) w.Empty("mtu", {{"size", std::to_string(n.mtu)}});
  w.Close();
}

}  // namespace

Status ValidateNic(const NicConfig& n) {
  if (!ValidMac(n.mac)) return Status::Invalid("Invalid MAC address " + n.mac + ".", "InvalidValue");
  if (n.kind != NicConfig::Kind::kIsolated && !ValidIfName(n.dev)) return Status::Invalid("Invalid tap device name " + n.dev + ".", "InvalidValue");
  if (n.mtu < 0 || n.mtu > 65535) return Status::Invalid("Invalid MTU " + std::to_string(n.mtu) + ".", "InvalidValue");
  if (n.kind == NicConfig::Kind::kOpenvswitch) {
    if (!ValidIfName(n.bridge)) return Status::Invalid("Invalid bridge name " + n.bridge + ".", "InvalidValue");
    if (!IsUuidLike(n.port_id)) return Status::Invalid("Invalid port id " + n.port_id + ".", "InvalidValue");
  }
  return Status::Ok();
}

std::string BuildInterfaceXml(const NicConfig& n) {
  XmlWriter w;
  WriteInterface(w, n);
  return w.str();
}


std::string XmlEscape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '\'': o += "&apos;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string DomainName(const std::string& uuid) { return kDomainPrefix + uuid; }
std::string PoolDomainName(const std::string& uuid) { return kPoolDomainPrefix + uuid; }

bool ValidTemplatePath(const std::string& path) {
  if (path.empty() || path[0] != '/' || path.find("..") != std::string::npos) return false;
  for (char c : path) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

int VcpusFor(double cpu) { return std::max(1, static_cast<int>(std::ceil(cpu - 1e-9))); }

int64_t VcpuQuotaFor(double cpu, int vcpus) {
  if (cpu + 1e-9 >= vcpus) return 0;
  // Spread the total over the vCPUs: vcpus * quota = cpu * period. At least 1 ms (libvirt's floor).
  return std::max<int64_t>(1000, std::llround(cpu * kCpuPeriodUs / vcpus));
}

namespace {
// Devices that are never unplugged (the disks, the agent's virtio-serial controller, the rng)
// sit on q35's root bus as integrated endpoints from this slot up, so libvirt gives them no
// root ports for the guest to probe at boot (issue 5's floor measurements: 0.15-0.2 s a VM).
// Root ports (NICs, hot-plug) take the low slots libvirt picks; 0x1f is the ICH9's.
constexpr int kFirstRootBusSlot = 0x10;

std::string SlotHex(int slot) {
  static const char* digits = "0123456789abcdef";
  return std::string("0x") + digits[(slot >> 4) & 0xf] + digits[slot & 0xf];
}

void RootBusAddress(XmlWriter& w, int slot) {
  w.Empty("address", {{"type", "pci"}, {"domain", "0x0000"}, {"bus", "0x00"}, {"slot", SlotHex(slot)},
                      {"function", "0x0"}});
}
}  // namespace

namespace {
constexpr const char kQemuNs[] = "http://libvirt.org/schemas/domain/qemu/1.0";

void WriteMetadata(XmlWriter& w, const std::string& container, const std::string& instance, bool pool) {
  w.Open(std::string(kMetadataPrefix) + ":sandbox", {{std::string("xmlns:") + kMetadataPrefix, kMetadataNs}});
  w.Text(std::string(kMetadataPrefix) + ":container", container);
  w.Text(std::string(kMetadataPrefix) + ":instance", instance);
  if (pool) w.Text(std::string(kMetadataPrefix) + ":pool", "1");
  w.Close();
}

void WriteDisk(XmlWriter& w, const DiskConfig& d, char dev, int slot) {
  w.Open("disk", {{"type", d.block ? "block" : "file"}, {"device", "disk"}});
  w.Empty("driver", {{"name", "qemu"}, {"type", "raw"}});
  w.Empty("source", {{d.block ? "dev" : "file", d.path}});
  w.Empty("target", {{"dev", std::string("vd") + dev}, {"bus", "virtio"}});
  w.Text("serial", d.serial);
  if (d.readonly) w.Empty("readonly").Empty("shareable");
  if (slot > 0) RootBusAddress(w, slot);
  w.Close();
}

void WriteTemplateMemory(XmlWriter& w, const TemplateMemory& t, int64_t memory_mib) {
  std::string object = "memory-backend-file,id=zunvm-template,size=" + std::to_string(memory_mib) +
                       "M,mem-path=" + t.path + ",share=" + (t.clone ? "off" : "on") +
                       ",x-use-canonical-path-for-ramblock-id=off";
  std::vector<std::string> args = {"-object", object, "-machine", "memory-backend=zunvm-template"};
  if (t.clone) args.insert(args.end(), {"-incoming", "defer"});
  w.Open("qemu:commandline");
  for (const auto& a : args) w.Empty("qemu:arg", {{"value", a}});
  w.Close();
}
}  // namespace

std::string BuildDiskXml(const DiskConfig& d, char dev) {
  XmlWriter w;
  WriteDisk(w, d, dev, 0);
  return w.str();
}

std::string MetadataXml(const std::string& container, const std::string& instance) {
  // virDomainSetMetadata puts the element in our namespace under our prefix itself.
  XmlWriter w;
  w.Open("sandbox").Text("container", container).Text("instance", instance).Text("pool", "1").Close();
  return w.str();
}

namespace {

// A host PCI device given to the guest through VFIO; libvirt (managed) binds it to vfio-pci
// for the domain's life. `addr` passed ValidPciAddress: dddd:bb:ss.f.
void WriteHostdev(XmlWriter& w, const std::string& addr) {
  w.Open("hostdev", {{"mode", "subsystem"}, {"type", "pci"}, {"managed", "yes"}});
  w.Empty("driver", {{"name", "vfio"}});
  w.Open("source").Empty("address", {{"domain", "0x" + addr.substr(0, 4)}, {"bus", "0x" + addr.substr(5, 2)},
                                     {"slot", "0x" + addr.substr(8, 2)}, {"function", "0x" + addr.substr(11, 1)}});
  w.Close().Close();
}

}  // namespace

std::string BuildDomainXml(const DomainConfig& c) {
  XmlWriter w;
  XmlWriter::Attrs root = {{"type", c.virt_type}};
  if (c.template_memory) root.emplace_back("xmlns:qemu", kQemuNs);
  w.Open("domain", root);
  w.Text("name", c.pool ? PoolDomainName(c.uuid) : DomainName(c.uuid));
  w.Text("uuid", c.uuid);  // the domain's libvirt uuid is the container's (a pool member's own)
  w.Open("metadata");
  WriteMetadata(w, c.pool ? std::string() : c.uuid, c.instance, c.pool);
  w.Close();
  w.Text("memory", std::to_string(c.memory_mib), {{"unit", "MiB"}});
  w.Text("vcpu", std::to_string(VcpusFor(c.cpu)));
  if (int64_t quota = VcpuQuotaFor(c.cpu + c.cpu_overhead, VcpusFor(c.cpu)); quota > 0) {
    w.Open("cputune").Text("period", std::to_string(kCpuPeriodUs)).Text("quota", std::to_string(quota)).Close();
  }
  w.Open("os").Text("type", "hvm", {{"arch", "x86_64"}, {"machine", c.machine}});
  w.Text("kernel", c.kernel).Text("initrd", c.initrd).Text("cmdline", c.cmdline).Close();
  w.Open("features").Empty("acpi");
  if (c.virt_type == "qemu" && c.tb_cache_mib > 0) {
    w.Open("tcg").Text("tb-cache", std::to_string(c.tb_cache_mib), {{"unit", "MiB"}}).Close();
  }
  w.Close();  // features
  if (c.virt_type == "kvm") w.Empty("cpu", {{"mode", "host-passthrough"}});
  w.Empty("clock", {{"offset", "utc"}});
  // The guest powers itself off when its agent is told to (or fails): the domain goes away.
  w.Text("on_poweroff", "destroy").Text("on_reboot", "destroy").Text("on_crash", "destroy");
  w.Open("devices");
  if (!c.emulator.empty()) w.Text("emulator", c.emulator);
  char dev = 'a';
  int slot = kFirstRootBusSlot;
  for (const auto& d : c.disks) WriteDisk(w, d, dev++, slot++);
  for (const auto& n : c.nics) WriteInterface(w, n);
  for (const auto& h : c.hostdevs) WriteHostdev(w, h);
  // q35's root bus takes no hot-plug: each later device needs a free root port of its own.
  // libvirt fills free root ports with the NICs and passed-through devices first (they are on
  // ports so that they can be unplugged), so those come on top of the spare ones.
  if (c.hotplug_ports > 0 || !c.hostdevs.empty()) {
    size_t ports = c.nics.size() + c.hostdevs.size() + static_cast<size_t>(c.hotplug_ports);
    for (size_t i = 1; i <= ports; ++i) {
      w.Empty("controller", {{"type", "pci"}, {"index", std::to_string(i)}, {"model", "pcie-root-port"}});
    }
  }
  w.Open("serial", {{"type", "file"}}).Empty("source", {{"path", c.console_log}})
      .Empty("target", {{"port", "0"}}).Close();
  w.Open("controller", {{"type", "virtio-serial"}, {"index", "0"}});
  RootBusAddress(w, slot++);
  w.Close();
  w.Open("channel", {{"type", "unix"}}).Empty("source", {{"mode", "bind"}, {"path", c.agent_socket}})
      .Empty("target", {{"type", "virtio"}, {"name", kAgentPortName}}).Close();
  // Entropy for the guest's CRNG (containers reading /dev/random early would wait without it).
  w.Open("rng", {{"model", "virtio"}}).Text("backend", "/dev/urandom", {{"model", "random"}});
  RootBusAddress(w, slot++);
  w.Close();
  w.Empty("controller", {{"type", "usb"}, {"model", "none"}});
  w.Empty("memballoon", {{"model", "none"}});
  w.Close();  // devices
  if (c.template_memory) WriteTemplateMemory(w, *c.template_memory, c.memory_mib);
  w.Close();  // domain
  return w.str();
}

}  // namespace zunvm::libvirt
