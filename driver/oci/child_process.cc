#include "driver/oci/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

extern char** environ;

namespace zunvm::oci {

namespace {

// A pipe whose ends are close-on-exec and numbered above stdio (so the child's dup2 onto 0-2
// never clobbers one before it is used); the read end is non-blocking.
Status MakePipe(fsat::UniqueFd* r, fsat::UniqueFd* w) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Status::Internal(std::string("pipe: ") + std::strerror(errno));
  for (int& fd : p) {
    if (fd < 3) {
      int hi = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
      ::close(fd);
      fd = hi;
    }
  }
  *r = fsat::UniqueFd(p[0]);
  *w = fsat::UniqueFd(p[1]);
  if (r->get() < 0 || w->get() < 0) return Status::Internal(std::string("pipe: ") + std::strerror(errno));
  ::fcntl(r->get(), F_SETFL, ::fcntl(r->get(), F_GETFL) | O_NONBLOCK);
  return Status::Ok();
}

int StatusCode(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1; }

}  // namespace

std::vector<std::string> EnvironmentWith(const std::vector<std::string>& drop, const std::vector<std::string>& add) {
  std::vector<std::string> env;
  auto named = [](const std::string& kv, const std::string& key) {
    return kv.size() > key.size() && kv.compare(0, key.size(), key) == 0 && kv[key.size()] == '=';
  };
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    bool dropped = std::any_of(drop.begin(), drop.end(), [&](const std::string& k) { return named(kv, k); }) ||
                   std::any_of(add.begin(), add.end(), [&](const std::string& a) { return named(kv, a.substr(0, a.find('='))); });
    if (!dropped) env.push_back(std::move(kv));
  }
  env.insert(env.end(), add.begin(), add.end());
  return env;
}

Result<Child> Child::Start(const ChildSpec& s) {
  if (s.argv.empty() || s.argv[0].empty()) return Err(Status::Invalid("no program to run"));
  Child c;
  fsat::UniqueFd out_w, err_w, fd3;
  ZUNVM_RETURN_IF_ERROR(MakePipe(&c.out_fd_, &out_w));
  if (!s.merge_stderr) ZUNVM_RETURN_IF_ERROR(MakePipe(&c.err_fd_, &err_w));
  if (s.fd3 >= 0) {
    // A copy above 3, so that dup2(fd3, 3) is a real dup2 (it clears close-on-exec).
    fd3 = fsat::UniqueFd(::fcntl(s.fd3, F_DUPFD_CLOEXEC, 4));
    if (fd3.get() < 0) return Err(Status::Internal(std::string("dup: ") + std::strerror(errno)));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, s.merge_stderr ? out_w.get() : err_w.get(), 2);
  if (fd3.get() >= 0) posix_spawn_file_actions_adddup2(&fa, fd3.get(), 3);
  posix_spawn_file_actions_addclosefrom_np(&fa, fd3.get() >= 0 ? 4 : 3);
  if (!s.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, s.cwd.c_str());
  // The child starts with default signal handling and an empty mask, whatever the caller's.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv, envp;
  for (const auto& a : s.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : s.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int rc = ::posix_spawn(&c.pid_, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    c.pid_ = -1;
    return Err(Status::Internal("cannot run " + s.argv[0] + ": " + std::strerror(rc)));
  }
  // Without pidfds (Linux < 5.3) Pump polls for the exit instead.
  c.pidfd_ = fsat::UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, c.pid_, 0)));
  if (c.pidfd_.get() >= 0) ::fcntl(c.pidfd_.get(), F_SETFD, FD_CLOEXEC);
  return c;
}

Child::Child(Child&& o) noexcept
    : pid_(o.pid_),
      pidfd_(std::move(o.pidfd_)),
      out_fd_(std::move(o.out_fd_)),
      err_fd_(std::move(o.err_fd_)),
      exit_code_(o.exit_code_),
      out_(std::move(o.out_)),
      err_(std::move(o.err_)) {
  o.pid_ = -1;
}

Child::~Child() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    Reap(true);
  }
}

void Child::Signal(int sig) const {
  if (pid_ > 0 && !exit_code_) ::kill(pid_, sig);
}

bool Child::Reap(bool block) {
  if (exit_code_) return true;
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return false;
  exit_code_ = r == pid_ ? StatusCode(st) : -1;  // -1: reaped by someone else (ECHILD)
  pidfd_ = fsat::UniqueFd();
  return true;
}

bool Child::Drain(fsat::UniqueFd& fd, std::string* into, size_t limit) {
  if (fd.get() < 0) return false;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n > 0) {
      if (into && into->size() < limit) into->append(buf, std::min(static_cast<size_t>(n), limit - into->size()));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    fd = fsat::UniqueFd();  // EOF or error
    return false;
  }
}

bool Child::Pump(Deadline deadline, int extra_fd, std::string* extra, const std::function<bool()>& more) {
  fsat::UniqueFd extra_dup;  // ours to close at its EOF; the caller's fd stays open
  if (extra_fd >= 0) {
    extra_dup = fsat::UniqueFd(::fcntl(extra_fd, F_DUPFD_CLOEXEC, 3));
    if (extra_dup.get() >= 0) ::fcntl(extra_dup.get(), F_SETFL, ::fcntl(extra_dup.get(), F_GETFL) | O_NONBLOCK);
  }
  for (;;) {
    bool waiting_extra = extra_dup.get() >= 0 && more && more();
    if (exit_code_ && !waiting_extra) {
      Drain(out_fd_, &out_, kOutputLimit);
      Drain(err_fd_, &err_, kOutputLimit);
      return true;
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    pollfd fds[4];
    int n = 0;
    for (const fsat::UniqueFd* fd : {&out_fd_, &err_fd_, &extra_dup, &pidfd_}) {
      if (fd->get() >= 0) fds[n++] = pollfd{fd->get(), POLLIN, 0};
    }
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    // No pidfd (or nothing left to watch): look for the exit at least every 20 ms.
    int timeout = static_cast<int>(std::min<long long>(left, pidfd_.get() >= 0 ? 60000 : 20));
    if (::poll(fds, static_cast<nfds_t>(n), timeout) < 0 && errno != EINTR) {
      return false;
    }
    Drain(out_fd_, &out_, kOutputLimit);
    Drain(err_fd_, &err_, kOutputLimit);
    if (extra_dup.get() >= 0) Drain(extra_dup, extra, kOutputLimit);
    Reap(false);
  }
}

}  // namespace zunvm::oci
