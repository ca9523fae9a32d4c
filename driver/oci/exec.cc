// ExecInContainer (driver/oci/monitor.h): `<runtime> exec` with a process.json, output captured.
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "driver/oci/monitor.h"
#include "driver/oci/runtime_cmd.h"

namespace zunvm::oci {

namespace {

using Clock = std::chrono::steady_clock;

std::string PidNamespace(int pid) {
  char buf[64];
  std::string link = "/proc/" + std::to_string(pid) + "/ns/pid";
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// SIGKILLs the exec'd process `pid` if it still is one of the container's: the runtime relays
// signals but cannot relay SIGKILL, and the process need not be the runtime's child (crun's
// is re-parented), so its pid is pinned with a pidfd and checked to be in the PID namespace
// of the container's init before the signal.
void KillExecProcess(int pid, const MonitorPaths& p) {
  fsat::UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  auto init = ReadPid(p.ContainerPidFile());
  if (fd.get() < 0 || !init) return;
  const std::string ns = PidNamespace(pid);
  if (!ns.empty() && ns == PidNamespace(*init)) ::syscall(SYS_pidfd_send_signal, fd.get(), SIGKILL, nullptr, 0);
}

}  // namespace

Result<ExecResult> ExecInContainer(const OciRuntime& rt, const std::string& id, const MonitorPaths& p,
                                   const nlohmann::json& process, std::chrono::seconds timeout) {
  ZUNVM_RETURN_IF_ERROR(detail::Check(rt, id, p));
  if (!process.is_object() || !process.contains("args") || !process["args"].is_array() || process["args"].empty()) {
    return Err(Status::Invalid("an exec needs a process with args"));
  }
  for (const auto& a : process["args"]) {
    if (!a.is_string()) return Err(Status::Invalid("an exec's args must be strings"));
  }
  if (process.contains("terminal") && process["terminal"] != false) {
    return Err(Status::Invalid("an exec with a terminal is not supported here"));
  }
  // The process spec and the pid file, named after one unique stem in the container's dir.
  std::string spec = p.dir + "/exec-XXXXXX.json";
  fsat::UniqueFd fd(::mkostemps(spec.data(), 5, O_CLOEXEC));
  if (fd.get() < 0) return Err(Status::Internal("cannot write an exec spec in " + p.dir + ": " + std::strerror(errno)));
  const std::string pidfile = spec.substr(0, spec.size() - 5) + ".pid";
  struct Cleanup {
    std::string a, b;
    ~Cleanup() {
      ::unlink(a.c_str());
      ::unlink(b.c_str());
    }
  } cleanup{spec, pidfile};
  const std::string text = process.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return Err(Status::Internal("cannot write " + spec + ": " + std::strerror(errno)));
  }
  fd = fsat::UniqueFd();

  ChildSpec s;
  s.argv = {rt.binary, "--root", rt.root, "exec", "--process", spec, "--pid-file", pidfile, id};
  s.env = EnvironmentWith(detail::DroppedEnv(), {});
  s.merge_stderr = true;
  auto c = Child::Start(s);
  if (!c) return Err(c.error());
  if (!c->Pump(Clock::now() + timeout)) {
    if (auto pid = ReadPid(pidfile)) KillExecProcess(*pid, p);
    if (!c->Pump(Clock::now() + detail::kKillGrace)) c->Signal(SIGKILL);
    c->Pump(Clock::now() + detail::kKillGrace);
    return Err(Status(Code::kDeadlineExceeded, "exec in container " + id + " did not finish within " +
                                                   std::to_string(timeout.count()) + " s"));
  }
  // The runtime writes the pid file once the process runs: without it, the runtime failed.
  if (!ReadPid(pidfile)) return Err(detail::Failed(rt, id, "exec", *c));
  return ExecResult{c->out(), *c->exit_code()};
}

}  // namespace zunvm::oci
