#include "common/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace zunvm {

Result<ProcessResult> RunProcess(const std::vector<std::string>& argv) {
  if (argv.empty()) return Err(Status::Invalid("empty argv"));
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Err(Status::Internal("pipe"));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_adddup2(&fa, p[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(p[1]);
  if (rc != 0) {
    ::close(p[0]);
    return Err(Status::Internal("cannot run " + argv[0] + ": " + std::strerror(rc)));
  }
  ProcessResult r;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (r.output.size() < (64 << 10)) r.output.append(buf, static_cast<size_t>(n));
  }
  ::close(p[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

Status RunChecked(const std::vector<std::string>& argv) {
  auto r = RunProcess(argv);
  if (!r) return r.error();
  if (r->exit_code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    return Status::Internal(cmd + " failed (" + std::to_string(r->exit_code) + "): " + r->output);
  }
  return Status::Ok();
}

}  // namespace zunvm
