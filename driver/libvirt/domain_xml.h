// The libvirt domain definition of one sandbox, built from typed fields by a small XML writer
// that escapes every text and attribute value: no caller string is ever pasted into XML.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zunvm::libvirt {

// Our XML namespace for <metadata>; reconciliation recognises our domains by it.
inline constexpr const char kMetadataNs[] = "https://zunvm.org/xmlns/sandbox/1";
inline constexpr const char kMetadataPrefix[] = "zunvm";
inline constexpr const char kDomainPrefix[] = "zunvm-";
inline constexpr const char kAgentPortName[] = "org.zunvm.agent.0";

struct DiskConfig {
  std::string path;    // raw image file
  std::string serial;  // how the agent finds it (/sys/block/vd*/serial)
  bool readonly = false;
};

struct DomainConfig {
  std::string uuid;            // the container uuid; name is zunvm-<uuid>
  std::string instance;        // the zunvmd (state dir) that owns the domain, in <metadata>
  std::string virt_type = "kvm";  // kvm | qemu
  std::string emulator;        // empty: libvirt's default for the arch
  double cpu = 1;              // vCPUs = ceil(cpu); a fraction sets a cpu quota
  int64_t memory_mib = 512;    // guest RAM
  std::string kernel, initrd, cmdline;
  std::string console_log;     // serial console to this file
  std::string agent_socket;    // virtio-serial port's unix socket (qemu binds it)
  std::vector<DiskConfig> disks;
};

std::string DomainName(const std::string& uuid);
// vCPUs for a (possibly fractional) cpu value: at least 1.
int VcpusFor(double cpu);
// The per-vCPU CFS quota (µs per kCpuPeriodUs) that gives `vcpus` vCPUs `cpu` CPUs' worth of
// time in all, or 0 for none (cpu covers every vCPU). `vcpus` defaults to VcpusFor(cpu).
inline constexpr int64_t kCpuPeriodUs = 100000;
int64_t VcpuQuotaFor(double cpu, int vcpus);
inline int64_t VcpuQuotaFor(double cpu) { return VcpuQuotaFor(cpu, VcpusFor(cpu)); }
std::string BuildDomainXml(const DomainConfig& c);
// Escapes text or attribute content (& < > ' ").
std::string XmlEscape(const std::string& s);

}  // namespace zunvm::libvirt
