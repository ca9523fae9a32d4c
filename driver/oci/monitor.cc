// CreateContainer and the runtime's other commands; ExecInContainer is exec.cc, ReadLog
// log_reader.cc.
#include "driver/oci/monitor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/strings.h"
#include "driver/oci/child_process.h"
#include "driver/oci/runtime_cmd.h"

namespace zunvm::oci {

using namespace detail;

namespace {

using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// A runtime command on a container that must be running (or paused): Conflict once stopped.
Status RunningCommand(const OciRuntime& rt, const std::string& id, const std::vector<std::string>& args) {
  ZUNVM_RETURN_IF_ERROR(Check(rt, id));
  auto c = RunRuntime(rt, args);
  if (!c) return c.error();
  if (c->exit_code() == 0) return Status::Ok();
  auto state = StateOf(rt, id);
  if (state && state->status == SandboxState::kStopped) return Status::Conflict("container " + id + " is not running");
  return Failed(rt, id, args.front(), *c);
}

// A pidfd of the live conmon of `id`, or -1 when there is none.
fsat::UniqueFd MonitorPidfd(const MonitorPaths& p, const std::string& id) {
  auto pid = MonitorPidOf(p, id);
  if (!pid) return fsat::UniqueFd();
  fsat::UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, *pid, 0)));
  // Opened, then checked again: the pidfd now pins that process, so it is conmon's.
  if (fd.get() < 0 || MonitorPidOf(p, id) != pid) return fsat::UniqueFd();
  return fd;
}

bool PollExit(int pidfd, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd pfd{pidfd, POLLIN, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 60000)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

// Waits for the conmon of `id` to exit (after its container did), SIGKILLing it past `wait`.
Status AwaitMonitorExit(const MonitorPaths& p, const std::string& id, seconds wait) {
  fsat::UniqueFd fd = MonitorPidfd(p, id);
  if (fd.get() < 0) return Status::Ok();
  if (PollExit(fd.get(), Clock::now() + wait)) return Status::Ok();
  ::syscall(SYS_pidfd_send_signal, fd.get(), SIGKILL, nullptr, 0);
  if (PollExit(fd.get(), Clock::now() + kKillGrace)) return Status::Ok();
  return Status(Code::kDeadlineExceeded, "conmon of container " + id + " did not exit");
}

// After a failed create: no state of `id` left in the runtime, no conmon.
void Undo(const OciRuntime& rt, const std::string& id, const MonitorPaths& p, const Child& conmon) {
  conmon.Signal(SIGKILL);
  (void)DeleteContainer(rt, id, p);
}

}  // namespace

bool ValidContainerId(const std::string& id) {
  if (id.empty() || id.size() > 128 || id[0] == '.' || id[0] == '-') return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) {
      return false;
    }
  }
  return true;
}

Result<int> CreateContainer(const OciRuntime& rt, const std::string& id, const MonitorPaths& p, const ContainerStdio& stdio) {
  ZUNVM_RETURN_IF_ERROR(Check(rt, id, p));
  if (::mkdir(p.ExitDir().c_str(), 0700) != 0 && errno != EEXIST) {
    return Err(Status::Internal("cannot make " + p.ExitDir() + ": " + std::strerror(errno)));
  }
  for (const std::string& stale : {p.ExitDir() + "/" + id, p.ContainerPidFile(), p.MonitorPidFile()}) ::unlink(stale.c_str());

  // conmon reports on the pipe whose fd _OCI_SYNCPIPE names: {"data": <init pid>} once the
  // runtime created the container, or {"data": -1, "message": "<the runtime's stderr>"}.
  int sp[2];
  if (::pipe2(sp, O_CLOEXEC) != 0) return Err(Status::Internal(std::string("pipe: ") + std::strerror(errno)));
  fsat::UniqueFd sync_r(sp[0]), sync_w(sp[1]);

  ChildSpec s;
  s.argv = {rt.monitor,
            "--api-version",  // a flag: the sync pipe's JSON says "data" (API 1)
            "--cid", id, "--cuuid", id,
            "--runtime", rt.binary,
            "--runtime-arg=--root=" + rt.root,
            "--bundle", p.Bundle(),
            "--container-pidfile", p.ContainerPidFile(),
            "--conmon-pidfile", p.MonitorPidFile(),
            "--exit-dir", p.ExitDir(),
            "--log-path", "k8s-file:" + p.Log(),
            "--full-attach",  // the attach socket in the bundle (dir/attach), not a symlink dir
            "--syslog"};      // conmon's own warnings once it is detached
  if (stdio.terminal) s.argv.push_back("--terminal");
  // Stdin stays open when an attach client (zunvmd, per write) goes, as in `docker run -i`.
  if (stdio.open_stdin) s.argv.insert(s.argv.end(), {"--stdin", "--leave-stdin-open"});
  s.env = EnvironmentWith(DroppedEnv(), {"_OCI_SYNCPIPE=3"});
  s.cwd = p.dir;
  s.fd3 = sync_w.get();
  s.merge_stderr = true;
  auto conmon = Child::Start(s);
  sync_w = fsat::UniqueFd();  // conmon's copy is the only writer left: its exit is our EOF
  if (!conmon) return Err(conmon.error());

  // The first conmon forks the monitor and exits; the monitor runs `<runtime> create` and
  // writes the result. Done when both happened (or the pipe closed without a word).
  std::string sync;
  bool done = conmon->Pump(Clock::now() + rt.timeout, sync_r.get(), &sync, [&] { return sync.find('\n') == std::string::npos; });
  if (!done) {
    Undo(rt, id, p, *conmon);
    return Err(Status(Code::kDeadlineExceeded, "creating container " + id + " took longer than " +
                                                   std::to_string(rt.timeout.count()) + " s"));
  }
  if (conmon->exit_code() != 0) {
    Undo(rt, id, p, *conmon);
    return Err(Status::Internal("conmon failed (" + std::to_string(conmon->exit_code().value_or(-1)) +
                                "): " + RuntimeMessage(conmon->out())));
  }
  auto report = nlohmann::json::parse(sync.substr(0, sync.find('\n')), nullptr, /*allow_exceptions=*/false);
  if (report.is_object() && report.contains("data") && report["data"].is_number_integer()) {
    int64_t pid = report["data"].get<int64_t>();
    if (pid > 0 && pid <= 0x3fffffff) return static_cast<int>(pid);
    std::string message = report.contains("message") && report["message"].is_string() ? report["message"].get<std::string>() : "";
    Undo(rt, id, p, *conmon);
    return Err(Status::Internal(Basename(rt.binary) + " create " + id + " failed: " +
                                (message.empty() ? "no message (see conmon in syslog)" : RuntimeMessage(message))));
  }
  Undo(rt, id, p, *conmon);
  if (sync.empty()) return Err(Status::Internal("conmon exited without reporting container " + id + " (see syslog)"));
  return Err(Status::Internal("conmon's report for container " + id + " does not parse: " + RuntimeMessage(sync)));
}

Status StartContainer(const OciRuntime& rt, const std::string& id) {
  ZUNVM_RETURN_IF_ERROR(Check(rt, id));
  auto c = RunRuntime(rt, {"start", id});
  if (!c) return c.error();
  return c->exit_code() == 0 ? Status::Ok() : Failed(rt, id, "start", *c);
}

Status KillContainer(const OciRuntime& rt, const std::string& id, int signal) {
  if (signal < 1 || signal > 64) return Status::Invalid("invalid signal " + std::to_string(signal));
  return RunningCommand(rt, id, {"kill", id, std::to_string(signal)});
}

Status PauseContainer(const OciRuntime& rt, const std::string& id) { return RunningCommand(rt, id, {"pause", id}); }

Status ResumeContainer(const OciRuntime& rt, const std::string& id) { return RunningCommand(rt, id, {"resume", id}); }

Status DeleteContainer(const OciRuntime& rt, const std::string& id, const MonitorPaths& p) {
  ZUNVM_RETURN_IF_ERROR(Check(rt, id, p));
  auto c = RunRuntime(rt, {"delete", "--force", id});
  if (!c) return c.error();
  if (c->exit_code() != 0 && KnownToRuntime(rt, id)) return Failed(rt, id, "delete", *c);
  return AwaitMonitorExit(p, id, rt.timeout);
}

Result<RuntimeState> StateOf(const OciRuntime& rt, const std::string& id) {
  ZUNVM_RETURN_IF_ERROR(Check(rt, id));
  auto c = RunRuntime(rt, {"state", id});
  if (!c) return Err(c.error());
  if (c->exit_code() != 0) return Err(Failed(rt, id, "state", *c));
  auto j = nlohmann::json::parse(c->out(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("status") || !j["status"].is_string()) {
    return Err(Status::Internal(Basename(rt.binary) + " state " + id + " printed no state: " + RuntimeMessage(c->out())));
  }
  const std::string status = j["status"].get<std::string>();
  RuntimeState st;
  if (status == "created" || status == "creating") {
    st.status = SandboxState::kCreated;
  } else if (status == "running") {
    st.status = SandboxState::kRunning;
  } else if (status == "paused" || status == "pausing") {
    st.status = SandboxState::kPaused;
  } else if (status == "stopped") {
    st.status = SandboxState::kStopped;
  } else {
    return Err(Status::Internal(Basename(rt.binary) + " reports container " + id + " as " + status));
  }
  if (j.contains("pid") && j["pid"].is_number_integer()) st.pid = static_cast<int>(j["pid"].get<int64_t>());
  return st;
}

std::optional<int> ExitCodeOf(const MonitorPaths& p, const std::string& id) {
  if (!ValidContainerId(id)) return std::nullopt;
  auto text = ReadSmallFile(p.ExitDir() + "/" + id);
  if (!text) return std::nullopt;
  auto n = ParseInt(Trim(*text));
  if (!n || *n < -1 || *n > 255) return std::nullopt;
  return static_cast<int>(*n);
}

std::optional<int> MonitorPidOf(const MonitorPaths& p, const std::string& id) {
  if (!ValidContainerId(id)) return std::nullopt;
  auto pid = ReadPid(p.MonitorPidFile());
  if (!pid) return std::nullopt;
  const std::string proc = "/proc/" + std::to_string(*pid);
  std::ifstream f(proc + "/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string a; std::getline(f, a, '\0');) args.push_back(a);
  auto has = [&](const std::string& flag, const std::string& value) {
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == flag && args[i + 1] == value) return true;
    }
    return false;
  };
  if (!has("--cid", id) || !has("--exit-dir", p.ExitDir())) return std::nullopt;
  // Exited ones (zombies not yet reaped by init) are gone.
  auto stat = ProcStat(*pid);
  if (!stat || Exited(stat->first)) return std::nullopt;
  return pid;
}

}  // namespace zunvm::oci
