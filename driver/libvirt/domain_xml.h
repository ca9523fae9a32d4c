// The libvirt domain definition of one sandbox, built from typed fields by a small XML writer
// that escapes every text and attribute value: no caller string is ever pasted into XML.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace zunvm::libvirt {

// Our XML namespace for <metadata>; reconciliation recognises our domains by it.
inline constexpr const char kMetadataNs[] = "https://zunvm.org/xmlns/sandbox/1";
inline constexpr const char kMetadataPrefix[] = "zunvm";
inline constexpr const char kDomainPrefix[] = "zunvm-";
inline constexpr const char kAgentPortName[] = "org.zunvm.agent.0";

struct DiskConfig {
  std::string path;    // raw image file (or a host block device: `block`)
  std::string serial;  // how the agent finds it (/sys/block/vd*/serial)
  bool readonly = false;
  bool block = false;
};

// A sandbox NIC (virtio-net). kTap: a tap zunvmd created and moves onto its network's bridge
// (`<interface type='ethernet'>`, managed='no'). kOpenvswitch: a Neutron port plugged the way
// Nova's libvirt driver plugs an OVS port: libvirt adds the tap to `bridge` (br-int) with
// external-ids:iface-id = `port_id`, where the Neutron OVS agent finds and wires it.
struct NicConfig {
  // kTap: zunvmd's tap `dev`; kOpenvswitch: a Neutron port; kIsolated: a tap libvirt makes
  // (no `dev`) with the link down, so nothing the guest sends reaches the host (pool warm-up).
  enum class Kind { kTap, kOpenvswitch, kIsolated };
  Kind kind = Kind::kTap;
  std::string mac;      // 52:54:00:aa:bb:cc (any unicast MAC)
  std::string dev;      // host tap name, <= 15 characters
  std::string bridge;   // kOpenvswitch: the integration bridge
  std::string port_id;  // kOpenvswitch: the Neutron port uuid (the OVS interface id)
  int mtu = 0;          // 0: libvirt's default
};

// Guest RAM in a file on tmpfs instead of anonymous memory (VM templates, pool.h). The template
// maps it shared (its RAM is the file); a clone maps it private (copy-on-write: the file is never
// written) and waits for its device state (`-incoming defer`, then migrate-incoming). libvirt
// cannot say this, so it goes in <qemu:commandline> and libvirt marks the domain tainted.
struct TemplateMemory {
  std::string path;  // [A-Za-z0-9/._-] only (qemu's option syntax); reachable by the qemu user
  bool clone = false;
};

struct DomainConfig {
  std::string uuid;            // the container uuid; name is zunvm-<uuid>
  // A pool member (pool.h): named zunvm-pool-<uuid> with no container in its metadata until a
  // container claims it.
  bool pool = false;
  std::optional<TemplateMemory> template_memory;
  std::string instance;        // the zunvmd (state dir) that owns the domain, in <metadata>
  std::string virt_type = "kvm";  // kvm | qemu
  std::string emulator;        // empty: libvirt's default for the arch
  double cpu = 1;              // vCPUs = ceil(cpu); a fraction sets a cpu quota
  // Host CPU time the VM may use beyond `cpu` (its kernel, agent and device emulation, as
  // Kata's pod overhead): the quota is for cpu + cpu_overhead. The container's processes stay
  // at `cpu` through the guest's cgroup.
  double cpu_overhead = 0;
  // TCG (virt_type qemu) only: the translation block cache in MiB, 0 for QEMU's default (which
  // grows as code is translated).
  int tb_cache_mib = 0;
  int64_t memory_mib = 512;    // guest RAM
  std::string kernel, initrd, cmdline;
  std::string machine = "q35";
  // Host PCI devices (dddd:bb:ss.f, common/runtime_config.h ValidPciAddress) passed through
  // with VFIO, each on a root port of its own.
  std::vector<std::string> hostdevs;
  std::string console_log;     // serial console to this file
  std::string agent_socket;    // virtio-serial port's unix socket (qemu binds it)
  std::vector<DiskConfig> disks;
  std::vector<NicConfig> nics;
  int hotplug_ports = 0;       // spare PCIe root ports (beyond those the devices take), for hot-plugged NICs
};

std::string DomainName(const std::string& uuid);
std::string PoolDomainName(const std::string& uuid);
inline constexpr const char kPoolDomainPrefix[] = "zunvm-pool-";
// qemu's -object syntax cannot carry every path: only [A-Za-z0-9/._-], absolute.
bool ValidTemplatePath(const std::string& path);
// vCPUs for a (possibly fractional) cpu value: at least 1.
int VcpusFor(double cpu);
// The per-vCPU CFS quota (µs per kCpuPeriodUs) that gives `vcpus` vCPUs `cpu` CPUs' worth of
// time in all, or 0 for none (cpu covers every vCPU). `vcpus` defaults to VcpusFor(cpu).
inline constexpr int64_t kCpuPeriodUs = 100000;
int64_t VcpuQuotaFor(double cpu, int vcpus);
inline int64_t VcpuQuotaFor(double cpu) { return VcpuQuotaFor(cpu, VcpusFor(cpu)); }
// A template_memory path must pass ValidTemplatePath (the caller checks it).
std::string BuildDomainXml(const DomainConfig& c);
// A disk to hot-plug (virtio-blk on a free root port).
std::string BuildDiskXml(const DiskConfig& d, char dev);
// Our <metadata> element (unprefixed, for virDomainSetMetadata) of a pool member that
// `container` claimed.
std::string MetadataXml(const std::string& container, const std::string& instance);
// InvalidArgument unless the MAC is six hex pairs (unicast), the tap name a valid interface
// name, and for kOpenvswitch the bridge a valid name and the port id a uuid; values may come
// from Neutron, so they are checked before they reach libvirt.
Status ValidateNic(const NicConfig& n);
// One <interface> element: what BuildDomainXml writes per NIC and what a hot-plug attaches.
std::string BuildInterfaceXml(const NicConfig& n);
// Escapes text or attribute content (& < > ' ").
std::string XmlEscape(const std::string& s);

}  // namespace zunvm::libvirt
