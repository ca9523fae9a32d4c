#include "agent/guest/seccomp_profile.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <seccomp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>

#include "common/docker_defaults.h"

namespace zunvm::agent {

namespace {

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

// Every system call name libseccomp knows for the ABIs whose names join the allowed ones.
std::set<std::string> KnownNames() {
  std::set<std::string> names;
  for (const auto& arch : docker::SeccompArchitectures()) {
    if (!arch.names_known) continue;
    uint32_t token = seccomp_arch_resolve_name(arch.libseccomp_name);
    for (int nr = 0; token != 0 && nr < 1024; ++nr) {
      char* name = seccomp_syscall_resolve_num_arch(token, nr);
      if (name) {
        names.insert(name);
        std::free(name);
      }
    }
  }
  return names;
}

scmp_compare Compare(docker::ArgOp op) {
  switch (op) {
    case docker::ArgOp::kEqual: return SCMP_CMP_EQ;
    case docker::ArgOp::kNotEqual: return SCMP_CMP_NE;
    case docker::ArgOp::kMaskedEqual: return SCMP_CMP_MASKED_EQ;
  }
  return SCMP_CMP_EQ;
}

}  // namespace

Result<std::vector<sock_filter>> BuildDefaultFilter() {
  std::unique_ptr<void, CtxDeleter> ctx(seccomp_init(SCMP_ACT_ERRNO(docker::kSeccompDefaultErrno)));
  if (!ctx) return Err(Status::Internal("seccomp_init failed"));
  // A binary tree of the ~400 allowed calls, not a list: the filter runs on every system call
  // of the container (a few comparisons instead of hundreds).
  (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
  for (const auto& arch : docker::SeccompArchitectures()) {
    uint32_t token = seccomp_arch_resolve_name(arch.libseccomp_name);
    int rc = token == 0 ? -EINVAL : seccomp_arch_add(ctx.get(), token);
    if (rc != 0 && rc != -EEXIST) return Err(Status::Internal("seccomp_arch_add failed"));  // EEXIST: native
  }
  std::set<std::string> denied;
  for (const auto& d : docker::DeniedSyscalls()) denied.insert(d.name);
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
  for (const auto& c : docker::ConditionalSyscalls()) {
    uint32_t action = c.errno_ret == 0 ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(static_cast<uint32_t>(c.errno_ret));
    if (!c.arg) {
      ZUNVM_RETURN_IF_ERROR(rule(action, c.name, 0, nullptr));
      continue;
    }
    const scmp_arg_cmp cmp{c.arg->index, Compare(c.arg->op), c.arg->value, c.arg->value_two};
    ZUNVM_RETURN_IF_ERROR(rule(action, c.name, 1, &cmp));
  }

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
