#include "agent/guest/seccomp_profile.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <seccomp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>

namespace zunvm::agent {

// What Docker's default profile refuses a container that has Docker's default capabilities
// (moby's profiles/seccomp/default.json allows most of these only with a capability the
// container does not have). Each refused call answers EPERM.
const std::vector<DeniedSyscall>& DeniedSyscalls() {
  static const std::vector<DeniedSyscall> table = {
      // kernel keyring: not namespaced
      {"add_key", "the kernel keyring is not namespaced"},
      {"keyctl", "the kernel keyring is not namespaced"},
      {"request_key", "the kernel keyring is not namespaced"},
      // loading code into the kernel
      {"bpf", "loads programs into the kernel (CAP_SYS_ADMIN/CAP_BPF)"},
      {"init_module", "loads a kernel module (CAP_SYS_MODULE)"},
      {"finit_module", "loads a kernel module (CAP_SYS_MODULE)"},
      {"delete_module", "unloads a kernel module (CAP_SYS_MODULE)"},
      {"create_module", "obsolete module call"},
      {"get_kernel_syms", "obsolete module call"},
      {"query_module", "obsolete module call"},
      {"kexec_load", "replaces the running kernel"},
      {"kexec_file_load", "replaces the running kernel"},
      {"reboot", "reboots the guest (CAP_SYS_BOOT)"},
      // mounts and namespaces: the container's view of files is set up for it
      {"mount", "mounts (CAP_SYS_ADMIN)"},
      {"umount", "unmounts (CAP_SYS_ADMIN)"},
      {"umount2", "unmounts (CAP_SYS_ADMIN)"},
      {"mount_setattr", "changes mounts (CAP_SYS_ADMIN)"},
      {"move_mount", "the new mount API (CAP_SYS_ADMIN)"},
      {"open_tree", "the new mount API (CAP_SYS_ADMIN)"},
      {"fsopen", "the new mount API (CAP_SYS_ADMIN)"},
      {"fsconfig", "the new mount API (CAP_SYS_ADMIN)"},
      {"fsmount", "the new mount API (CAP_SYS_ADMIN)"},
      {"fspick", "the new mount API (CAP_SYS_ADMIN)"},
      {"pivot_root", "changes the root mount (CAP_SYS_ADMIN)"},
      {"unshare", "makes namespaces (CAP_SYS_ADMIN); clone is allowed only without CLONE_NEW*"},
      {"setns", "enters other namespaces (CAP_SYS_ADMIN)"},
      {"sethostname", "the hostname is set for the container (CAP_SYS_ADMIN)"},
      {"setdomainname", "the domain name is set for the container (CAP_SYS_ADMIN)"},
      {"quotactl", "filesystem quotas (CAP_SYS_ADMIN)"},
      {"quotactl_fd", "filesystem quotas (CAP_SYS_ADMIN)"},
      {"name_to_handle_at", "file handles bypass path checks (CAP_DAC_READ_SEARCH)"},
      {"open_by_handle_at", "file handles bypass path checks (the 'shocker' escape)"},
      {"lookup_dcookie", "kernel profiling (CAP_SYS_ADMIN)"},
      {"fanotify_init", "watches every file of a mount (CAP_SYS_ADMIN)"},
      {"swapon", "swap (CAP_SYS_ADMIN)"},
      {"swapoff", "swap (CAP_SYS_ADMIN)"},
      {"nfsservctl", "the kernel NFS server"},
      {"acct", "process accounting (CAP_SYS_PACCT)"},
      // observing and changing other processes and the kernel (ptrace itself stays allowed, as
  // Docker allows it on kernels >= 4.8, where it cannot bypass this filter)
      {"perf_event_open", "kernel profiling; a frequent source of kernel bugs (CAP_PERFMON)"},
      {"kcmp", "compares kernel objects of other processes (CAP_SYS_PTRACE)"},
      {"process_vm_readv", "reads another process's memory (CAP_SYS_PTRACE)"},
      {"process_vm_writev", "writes another process's memory (CAP_SYS_PTRACE)"},
      {"process_madvise", "advises on another process's memory (CAP_SYS_PTRACE)"},
      {"pidfd_getfd", "takes another process's file descriptors (CAP_SYS_PTRACE)"},
      {"userfaultfd", "makes kernel races easy to win"},
      {"syslog", "the kernel log (CAP_SYSLOG)"},
      {"sysfs", "obsolete"},
      {"_sysctl", "obsolete"},
      {"uselib", "obsolete"},
      {"ustat", "obsolete"},
      {"vm86", "x86 virtual 8086 mode"},
      {"vm86old", "x86 virtual 8086 mode"},
      {"iopl", "raw port I/O (CAP_SYS_RAWIO)"},
      {"ioperm", "raw port I/O (CAP_SYS_RAWIO)"},
      {"vhangup", "hangs up the terminal (CAP_SYS_TTY_CONFIG)"},
      // the guest's clock is shared by everything in it
      {"settimeofday", "sets the clock (CAP_SYS_TIME)"},
      {"stime", "sets the clock (CAP_SYS_TIME)"},
      {"clock_settime", "sets the clock (CAP_SYS_TIME)"},
      {"clock_settime64", "sets the clock (CAP_SYS_TIME)"},
      {"clock_adjtime", "adjusts the clock (CAP_SYS_TIME)"},
      {"clock_adjtime64", "adjusts the clock (CAP_SYS_TIME)"},
      // NUMA placement
      {"get_mempolicy", "NUMA policy (CAP_SYS_NICE)"},
      {"set_mempolicy", "NUMA policy (CAP_SYS_NICE)"},
      {"set_mempolicy_home_node", "NUMA policy (CAP_SYS_NICE)"},
      {"mbind", "NUMA policy (CAP_SYS_NICE)"},
      {"move_pages", "moves pages of other processes"},
      {"migrate_pages", "moves pages of other processes"},
      // io_uring bypasses this filter (its operations are not system calls)
      {"io_uring_setup", "io_uring operations bypass seccomp"},
      {"io_uring_enter", "io_uring operations bypass seccomp"},
      {"io_uring_register", "io_uring operations bypass seccomp"},
      // handled by the argument rules below, never allowed whole
      {"clone", "allowed below without CLONE_NEW* flags"},
      {"clone3", "ENOSYS below: its flags are in memory seccomp cannot read, libc falls back to clone"},
      {"personality", "allowed below for the harmless personas"},
      {"socket", "allowed below except AF_VSOCK"},
  };
  return table;
}

namespace {

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                     CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;

// Every system call name libseccomp knows for these ABIs.
std::set<std::string> KnownNames() {
  std::set<std::string> names;
  for (uint32_t arch : {uint32_t{SCMP_ARCH_X86_64}, uint32_t{SCMP_ARCH_X86}}) {
    for (int nr = 0; nr < 1024; ++nr) {
      char* name = seccomp_syscall_resolve_num_arch(arch, nr);
      if (name) {
        names.insert(name);
        std::free(name);
      }
    }
  }
  return names;
}

}  // namespace

Result<std::vector<sock_filter>> BuildDefaultFilter() {
  std::unique_ptr<void, CtxDeleter> ctx(seccomp_init(SCMP_ACT_ERRNO(EPERM)));
  if (!ctx) return Err(Status::Internal("seccomp_init failed"));
  // A binary tree of the ~400 allowed calls, not a list: the filter runs on every system call
  // of the container (a few comparisons instead of hundreds).
  (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
  for (uint32_t arch : {uint32_t{SCMP_ARCH_X86}, uint32_t{SCMP_ARCH_X32}}) {
    int rc = seccomp_arch_add(ctx.get(), arch);
    if (rc != 0 && rc != -EEXIST) return Err(Status::Internal("seccomp_arch_add failed"));
  }
  std::set<std::string> denied;
  for (const auto& d : DeniedSyscalls()) denied.insert(d.name);
  for (const std::string& name : KnownNames()) {
    if (denied.count(name)) continue;
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;
    (void)seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, nr, 0);  // absent on some ABI: skipped
  }
  auto rule = [&](uint32_t action, const char* name, unsigned n, const scmp_arg_cmp* args) -> Status {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return Status::Ok();
    int rc = seccomp_rule_add_array(ctx.get(), action, nr, n, args);
    if (rc != 0) return Status::Internal(std::string("seccomp rule for ") + name + ": " + std::strerror(-rc));
    return Status::Ok();
  };
  const scmp_arg_cmp no_namespaces = SCMP_A0(SCMP_CMP_MASKED_EQ, kNamespaceFlags, 0);
  ZUNVM_RETURN_IF_ERROR(rule(SCMP_ACT_ALLOW, "clone", 1, &no_namespaces));
  ZUNVM_RETURN_IF_ERROR(rule(SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, nullptr));
  for (uint64_t persona : {0x0ull, 0x8ull, 0x20000ull, 0x20008ull, 0xffffffffull}) {
    const scmp_arg_cmp is = SCMP_A0(SCMP_CMP_EQ, persona);
    ZUNVM_RETURN_IF_ERROR(rule(SCMP_ACT_ALLOW, "personality", 1, &is));
  }
  const scmp_arg_cmp not_vsock = SCMP_A0(SCMP_CMP_NE, AF_VSOCK);
  ZUNVM_RETURN_IF_ERROR(rule(SCMP_ACT_ALLOW, "socket", 1, &not_vsock));

  // The BPF program, read back from a memfd (libseccomp exports to a file descriptor).
  int fd = ::memfd_create("zunvm-seccomp", MFD_CLOEXEC);
  if (fd < 0) return Err(Status::Internal("memfd_create for the seccomp program"));
  int rc = seccomp_export_bpf(ctx.get(), fd);
  std::vector<sock_filter> prog;
  if (rc == 0) {
    off_t size = ::lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) {
      rc = -EIO;
    } else {
      prog.resize(static_cast<size_t>(size) / sizeof(sock_filter));
      if (::read(fd, prog.data(), static_cast<size_t>(size)) != size) rc = -EIO;
    }
  }
  ::close(fd);
  if (rc != 0) return Err(Status::Internal(std::string("seccomp_export_bpf: ") + std::strerror(-rc)));
  return prog;
}

int LoadFilter(const std::vector<sock_filter>& prog) {
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), const_cast<sock_filter*>(prog.data())};
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0) return errno;
  return 0;
}

}  // namespace zunvm::agent
