#include "common/docker_defaults.h"

#include <linux/capability.h>
#include <sched.h>
#include <sys/socket.h>

namespace zunvm::docker {

namespace {

constexpr Capability kCapabilities[] = {
    {"CHOWN", CAP_CHOWN},
    {"DAC_OVERRIDE", CAP_DAC_OVERRIDE},
    {"DAC_READ_SEARCH", CAP_DAC_READ_SEARCH},
    {"FOWNER", CAP_FOWNER},
    {"FSETID", CAP_FSETID},
    {"KILL", CAP_KILL},
    {"SETGID", CAP_SETGID},
    {"SETUID", CAP_SETUID},
    {"SETPCAP", CAP_SETPCAP},
    {"LINUX_IMMUTABLE", CAP_LINUX_IMMUTABLE},
    {"NET_BIND_SERVICE", CAP_NET_BIND_SERVICE},
    {"NET_BROADCAST", CAP_NET_BROADCAST},
    {"NET_ADMIN", CAP_NET_ADMIN},
    {"NET_RAW", CAP_NET_RAW},
    {"IPC_LOCK", CAP_IPC_LOCK},
    {"IPC_OWNER", CAP_IPC_OWNER},
    {"SYS_MODULE", CAP_SYS_MODULE},
    {"SYS_RAWIO", CAP_SYS_RAWIO},
    {"SYS_CHROOT", CAP_SYS_CHROOT},
    {"SYS_PTRACE", CAP_SYS_PTRACE},
    {"SYS_PACCT", CAP_SYS_PACCT},
    {"SYS_ADMIN", CAP_SYS_ADMIN},
    {"SYS_BOOT", CAP_SYS_BOOT},
    {"SYS_NICE", CAP_SYS_NICE},
    {"SYS_RESOURCE", CAP_SYS_RESOURCE},
    {"SYS_TIME", CAP_SYS_TIME},
    {"SYS_TTY_CONFIG", CAP_SYS_TTY_CONFIG},
    {"MKNOD", CAP_MKNOD},
    {"LEASE", CAP_LEASE},
    {"AUDIT_WRITE", CAP_AUDIT_WRITE},
    {"AUDIT_CONTROL", CAP_AUDIT_CONTROL},
    {"SETFCAP", CAP_SETFCAP},
    {"MAC_OVERRIDE", CAP_MAC_OVERRIDE},
    {"MAC_ADMIN", CAP_MAC_ADMIN},
    {"SYSLOG", CAP_SYSLOG},
    {"WAKE_ALARM", CAP_WAKE_ALARM},
    {"BLOCK_SUSPEND", CAP_BLOCK_SUSPEND},
    {"AUDIT_READ", CAP_AUDIT_READ},
    {"PERFMON", CAP_PERFMON},
    {"BPF", CAP_BPF},
    {"CHECKPOINT_RESTORE", CAP_CHECKPOINT_RESTORE},
};
static_assert(std::size(kCapabilities) == CAP_LAST_CAP + 1, "a capability of <linux/capability.h> is missing");

constexpr bool NumberedInOrder() {
  for (size_t i = 0; i < std::size(kCapabilities); ++i) {
    if (kCapabilities[i].number != static_cast<int>(i)) return false;
  }
  return true;
}
static_assert(NumberedInOrder(), "kCapabilities must be in number order");

constexpr const char* kDefaultCapabilities[] = {
    "CHOWN",  "DAC_OVERRIDE", "FSETID",           "FOWNER",     "MKNOD", "NET_RAW", "SETGID",
    "SETUID", "SETFCAP",      "SETPCAP",          "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",  "AUDIT_WRITE"};

constexpr const char* kMaskedPaths[] = {
    "/proc/asound",      "/proc/acpi",        "/proc/kcore", "/proc/keys",    "/proc/latency_stats",
    "/proc/timer_list",  "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap"};

constexpr const char* kReadonlyPaths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};

constexpr SeccompArch kArchitectures[] = {
    {"SCMP_ARCH_X86_64", "x86_64", true},
    {"SCMP_ARCH_X86", "x86", true},
    {"SCMP_ARCH_X32", "x32", false},
};

// Docker's default profile allows most of these only with a capability a default container
// does not have. Each refused call answers kSeccompDefaultErrno.
constexpr DeniedSyscall kDenied[] = {
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
    // the clock is shared by everything on the kernel
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
    // io_uring bypasses the filter (its operations are not system calls)
    {"io_uring_setup", "io_uring operations bypass seccomp"},
    {"io_uring_enter", "io_uring operations bypass seccomp"},
    {"io_uring_register", "io_uring operations bypass seccomp"},
    // handled by ConditionalSyscalls(), never allowed whole
    {"clone", "allowed without CLONE_NEW* flags"},
    {"clone3", "ENOSYS: its flags are in memory seccomp cannot read, libc falls back to clone"},
    {"personality", "allowed for the harmless personas"},
    {"socket", "allowed except AF_VSOCK"},
};

constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                     CLONE_NEWNET | CLONE_NEWCGROUP;

constexpr ArgCondition Arg0(ArgOp op, uint64_t value, uint64_t value_two = 0) { return {0, op, value, value_two}; }

constexpr ConditionalSyscall kConditional[] = {
    {"clone", 0, Arg0(ArgOp::kMaskedEqual, kNamespaceFlags, 0), "threads and processes, no new namespaces"},
    {"clone3", ENOSYS, std::nullopt, "libc falls back to clone"},
    // PER_LINUX, UNAME26, PER_LINUX32, PER_LINUX32|UNAME26, and the query (0xffffffff)
    {"personality", 0, Arg0(ArgOp::kEqual, 0x0), "PER_LINUX"},
    {"personality", 0, Arg0(ArgOp::kEqual, 0x8), "PER_LINUX32"},
    {"personality", 0, Arg0(ArgOp::kEqual, 0x20000), "UNAME26"},
    {"personality", 0, Arg0(ArgOp::kEqual, 0x20008), "PER_LINUX32 | UNAME26"},
    {"personality", 0, Arg0(ArgOp::kEqual, 0xffffffff), "queries the persona"},
    {"socket", 0, Arg0(ArgOp::kNotEqual, AF_VSOCK), "any family but vsock (the agent's channel)"},
};

}  // namespace

std::span<const Capability> Capabilities() { return kCapabilities; }
std::span<const char* const> DefaultCapabilities() { return kDefaultCapabilities; }
std::span<const char* const> MaskedPaths() { return kMaskedPaths; }
std::span<const char* const> ReadonlyPaths() { return kReadonlyPaths; }
std::span<const SeccompArch> SeccompArchitectures() { return kArchitectures; }
std::span<const DeniedSyscall> DeniedSyscalls() { return kDenied; }
std::span<const ConditionalSyscall> ConditionalSyscalls() { return kConditional; }

}  // namespace zunvm::docker
