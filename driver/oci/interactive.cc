#include "driver/oci/interactive.h"

#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "driver/oci/child_process.h"
#include "driver/oci/runtime_cmd.h"

namespace zunvm::oci {

namespace {

Status Errno(const std::string& what) { return Status::Internal(what + ": " + std::strerror(errno)); }

// conmon reads the attach socket into a buffer of this size.
constexpr size_t kAttachPacket = 8192;

}  // namespace

Status ResizePty(int master, int width, int height) {
  if (width <= 0 || height <= 0 || width > 65535 || height > 65535) return Status::Invalid("bad terminal size");
  winsize ws{};
  ws.ws_col = static_cast<unsigned short>(width);
  ws.ws_row = static_cast<unsigned short>(height);
  if (::ioctl(master, TIOCSWINSZ, &ws) != 0) return Errno("resize");
  return Status::Ok();
}

Result<InteractiveProcess> StartInteractive(const OciRuntime& rt, const std::string& id, const MonitorPaths& p,
                                            nlohmann::json process, int width, int height) {
  ZUNVM_RETURN_IF_ERROR(detail::Check(rt, id, p));
  if (!process.is_object() || !process.contains("args") || !process["args"].is_array() || process["args"].empty()) {
    return Err(Status::Invalid("an exec needs a process with args"));
  }
  const bool tty = process.value("terminal", false);
  if (tty && width > 0 && height > 0) process["consoleSize"] = {{"height", height}, {"width", width}};
  InteractiveProcess out;
  out.spec = p.dir + "/exec-XXXXXX.json";
  fsat::UniqueFd fd(::mkostemps(out.spec.data(), 5, O_CLOEXEC));
  if (fd.get() < 0) return Err(Errno("cannot write an exec spec in " + p.dir));
  const std::string text = process.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    ::unlink(out.spec.c_str());
    return Err(Errno("cannot write " + out.spec));
  }
  fd = fsat::UniqueFd();

  // Everything the child needs, made before fork: it only calls async-signal-safe functions.
  std::vector<std::string> args = {rt.binary, "--root", rt.root, "exec", "--process", out.spec, id};
  std::vector<std::string> env = EnvironmentWith(detail::DroppedEnv(), {});
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  fsat::UniqueFd child_in, child_out;  // the child's stdin and stdout+stderr
  if (tty) {
    int master = -1, slave = -1;
    winsize ws{};
    ws.ws_col = static_cast<unsigned short>(width > 0 ? width : 80);
    ws.ws_row = static_cast<unsigned short>(height > 0 ? height : 24);
    if (::openpty(&master, &slave, nullptr, nullptr, &ws) != 0) return Err(Errno("openpty"));
    out.io = fsat::UniqueFd(master);
    child_in = fsat::UniqueFd(slave);
    ::fcntl(master, F_SETFD, FD_CLOEXEC);
  } else {
    int in[2], o[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return Err(Errno("pipe"));
    out.in = fsat::UniqueFd(in[1]);
    child_in = fsat::UniqueFd(in[0]);
    if (::pipe2(o, O_CLOEXEC) != 0) return Err(Errno("pipe"));
    out.io = fsat::UniqueFd(o[0]);
    child_out = fsat::UniqueFd(o[1]);
  }
  const int cin = child_in.get();
  const int cout = tty ? cin : child_out.get();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::unlink(out.spec.c_str());
    return Err(Errno("fork"));
  }
  if (pid == 0) {
    ::setsid();
    if (tty) ::ioctl(cin, TIOCSCTTY, 0);  // the runtime follows its terminal's size (SIGWINCH)
    ::dup2(cin, 0);
    ::dup2(cout, 1);
    ::dup2(cout, 2);
    // Default handling and an empty mask, whatever zunvmd's (it ignores SIGPIPE, blocks SIGTERM).
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  out.pid = pid;
  return out;
}

Status WriteMainStdin(const MonitorPaths& p, const std::string& data) {
  const std::string path = p.AttachSocket();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return Status::Internal("the attach socket path " + path + " is too long");
  std::memcpy(addr.sun_path, path.data(), path.size());
  fsat::UniqueFd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (s.get() < 0) return Errno("socket");
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return Status::Conflict("the container's stdin is not open (" + std::string(std::strerror(errno)) + ")");
  }
  for (size_t off = 0; off < data.size(); off += kAttachPacket) {
    size_t n = std::min(kAttachPacket, data.size() - off);
    if (::send(s.get(), data.data() + off, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) return Errno("write to " + path);
  }
  return Status::Ok();
}

}  // namespace zunvm::oci
