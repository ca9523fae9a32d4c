#include "driver/libvirt/kvm_probe.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace zunvm::libvirt {

namespace {

// The steps of the child, as its exit codes.
enum Step { kHalted = 0, kOpen, kApiVersion, kCreateVm, kMemory, kCreateVcpu, kRegisters, kRun, kNoHalt };

const char* StepText(int step) {
  switch (step) {
    case kOpen: return "cannot open it";
    case kApiVersion: return "it does not answer KVM_GET_API_VERSION with 12 (not a KVM device)";
    case kCreateVm: return "KVM_CREATE_VM failed";
    case kMemory: return "cannot give the VM memory";
    case kCreateVcpu: return "KVM_CREATE_VCPU failed";
    case kRegisters: return "cannot set the vCPU's registers";
    case kRun: return "KVM_RUN failed";
    case kNoHalt: return "the vCPU did not halt";
    default: return "the probe died";
  }
}

// The child's work: async-signal-safe calls only (it is forked from a threaded process).
int RunHlt(const char* device) {
  int kvm = ::open(device, O_RDWR | O_CLOEXEC);
  if (kvm < 0) return kOpen;
  if (::ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) return kApiVersion;
  int vm = ::ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) return kCreateVm;
  void* mem = ::mmap(nullptr, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return kMemory;
  static_cast<unsigned char*>(mem)[0] = 0xf4;  // hlt
  kvm_userspace_memory_region region{};
  region.guest_phys_addr = 0x1000;
  region.memory_size = 0x1000;
  region.userspace_addr = reinterpret_cast<uint64_t>(mem);
  if (::ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) return kMemory;
  int vcpu = ::ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) return kCreateVcpu;
  int size = ::ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size <= 0) return kCreateVcpu;
  void* run_map = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run_map == MAP_FAILED) return kCreateVcpu;
  kvm_sregs sregs{};
  if (::ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) return kRegisters;
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (::ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) return kRegisters;
  kvm_regs regs{};
  regs.rip = 0x1000;
  regs.rflags = 2;
  if (::ioctl(vcpu, KVM_SET_REGS, &regs) < 0) return kRegisters;
  if (::ioctl(vcpu, KVM_RUN, 0) < 0) return kRun;
  return static_cast<kvm_run*>(run_map)->exit_reason == KVM_EXIT_HLT ? kHalted : kNoHalt;
}

}  // namespace

Status ProbeKvm(const std::string& device, std::chrono::milliseconds timeout) {
  struct stat st{};
  if (::stat(device.c_str(), &st) != 0) {
    return Status::Unavailable(device + " does not exist (no KVM: the CPU lacks VT-x/AMD-V, it is off in the "
                               "firmware, or the kvm module is not loaded)");
  }
  if (::access(device.c_str(), R_OK | W_OK) != 0) {
    return Status::Unavailable(device + ": " + std::strerror(errno));
  }
  pid_t pid = ::fork();
  if (pid < 0) return Status::Internal("fork failed");
  if (pid == 0) ::_exit(RunHlt(device.c_str()));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return Status::Internal("waitpid failed");
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return Status::Unavailable(device + ": a one-instruction guest did not finish within " +
                                 std::to_string(timeout.count()) + " ms (KVM hangs here, as nested KVM can)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  int step = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (step == kHalted) return Status::Ok();
  return Status::Unavailable(device + ": " + StepText(step));
}

}  // namespace zunvm::libvirt
