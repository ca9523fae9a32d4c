#include "tests/support/test_vm.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "driver/libvirt/domain_xml.h"

namespace zunvm::testvm {

using libvirt::XmlEscape;

namespace {

std::string Disk(const std::string& file, const char* dev, const char* serial, bool readonly) {
  return "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='" + XmlEscape(file) +
         "'/><target dev='" + dev + "' bus='virtio'/><serial>" + serial + "</serial>" +
         (readonly ? "<readonly/><shareable/>" : "") + "</disk>";
}

}  // namespace

std::string GuestDir(const std::string& fallback) {
  const char* e = std::getenv("ZUNVM_GUEST_DIR");
  return std::filesystem::absolute(e && *e ? e : fallback).string();  // qemu has another cwd
}

int Shell(const std::string& cmd, std::string* out) {
  std::string o;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.append(buf, n);
  int st = ::pclose(p);
  if (out) *out = o;
  return st;
}

TestVm::~TestVm() { (void)Destroy(); }

Status TestVm::Boot(const TestVmOptions& opts) {
  char tmpl[] = "/tmp/zunvm-vm-XXXXXX";
  if (!::mkdtemp(tmpl)) return Status::Internal("mkdtemp failed");
  work_ = tmpl;
  ::chmod(work_.c_str(), 0777);  // qemu (libvirt-qemu) creates the socket here
  socket_ = work_ + "/agent.sock";
  std::mt19937_64 rng(std::random_device{}());
  name_ = "zunvm-test-" + std::to_string(rng() % 1000000000000ULL);
  std::string out;
  std::string devices;
  if (opts.disks) {
    if (Shell("truncate -s 64M " + work_ + "/upper.ext4 && mkfs.ext4 -q -F " + work_ + "/upper.ext4", &out) != 0) {
      return Status::Internal("making the upper disk: " + out);
    }
    devices = Disk(opts.guest_dir + "/test-rootfs.ext4", "vda", "rootfs", true) +
              Disk(work_ + "/upper.ext4", "vdb", "upper", false);
  }
  for (const auto& n : opts.nics) devices += libvirt::BuildInterfaceXml(n);
  std::ostringstream x;
  x << "<domain type='qemu'><name>" << name_ << "</name>"
    << "<memory unit='MiB'>" << opts.memory_mib << "</memory><vcpu>1</vcpu>"
    << "<os><type arch='x86_64' machine='q35'>hvm</type>"
    << "<kernel>" << XmlEscape(opts.guest_dir + "/vmlinux") << "</kernel>"
    << "<initrd>" << XmlEscape(opts.initramfs.empty() ? opts.guest_dir + "/initramfs.cpio" : opts.initramfs) << "</initrd>"
    << "<cmdline>" << XmlEscape(opts.cmdline.empty() ? kDefaultCmdline : opts.cmdline) << "</cmdline></os>"
    << "<features><acpi/></features><clock offset='utc'/>"
    << "<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>"
    << "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>" << devices
    << "<serial type='file'><source path='" << XmlEscape(work_ + "/console.log") << "'/><target port='0'/></serial>"
    << "<channel type='unix'><source mode='bind' path='" << XmlEscape(socket_) << "'/>"
    << "<target type='virtio' name='org.zunvm.agent.0'/></channel>"
    << "<controller type='usb' model='none'/><memballoon model='none'/></devices></domain>";
  { std::ofstream(work_ + "/dom.xml") << x.str(); }
  if (Shell("virsh -c qemu:///system create " + work_ + "/dom.xml", &out) != 0) {
    return Status::Unavailable("virsh create: " + out);
  }
  return Status::Ok();
}

Status TestVm::Destroy() {
  if (!name_.empty()) Shell("virsh -c qemu:///system destroy " + name_);
  name_.clear();
  if (!work_.empty()) std::filesystem::remove_all(work_);
  work_.clear();
  return Status::Ok();
}

std::string TestVm::Console() const {
  std::ifstream f(work_ + "/console.log");
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace zunvm::testvm
