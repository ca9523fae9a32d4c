// A helper program run under a deadline (the OCI runtime, conmon): driver/oci's own, since the
// monitor needs what common/subprocess.h does not give: stdout apart from stderr, an extra fd
// (conmon's sync pipe), a working directory, an environment, and waiting that stops at a
// deadline and when the program exited even if something it left behind holds its output
// pipe open (an exec's background process).
//
// Thread safety: a Child is used by one thread at a time; Start may run on any thread (the
// pipes are close-on-exec, so a concurrent spawn elsewhere does not inherit them).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/fs_at.h"
#include "common/status.h"

namespace zunvm::oci {

using Deadline = std::chrono::steady_clock::time_point;

struct ChildSpec {
  std::vector<std::string> argv;  // argv[0] is the program's path (no PATH search)
  std::vector<std::string> env;   // the whole environment, "K=V"
  std::string cwd;                // empty: the caller's
  int fd3 = -1;                   // >= 0: given to the child as its fd 3
  bool merge_stderr = false;      // stderr into the stdout pipe (interleaved as written)
};

// The caller's environment without the variables named in `drop`, plus `add` ("K=V").
std::vector<std::string> EnvironmentWith(const std::vector<std::string>& drop, const std::vector<std::string>& add);

// A started program. stdin is /dev/null; every other fd of the caller stays closed in it.
// Its output is kept up to kOutputLimit bytes a stream (the rest is read and dropped, so the
// program never blocks on a full pipe). The destructor SIGKILLs and reaps a child still
// unreaped: a Child never leaves a zombie behind.
class Child {
 public:
  static constexpr size_t kOutputLimit = 1 << 20;

  static Result<Child> Start(const ChildSpec& s);
  Child(Child&& o) noexcept;
  Child& operator=(Child&&) = delete;
  Child(const Child&) = delete;
  ~Child();

  // Reads the output (and `extra_fd` into *extra until its EOF, when given) until the child
  // has exited and `more` (when given) returns false, then takes what the pipes still hold
  // without waiting for their EOF. False when `deadline` came first (the child may still run).
  bool Pump(Deadline deadline, int extra_fd = -1, std::string* extra = nullptr,
            const std::function<bool()>& more = {});
  void Signal(int sig) const;

  pid_t pid() const { return pid_; }
  // Once Pump saw it exit: its exit status, or 128+signal.
  std::optional<int> exit_code() const { return exit_code_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  Child() = default;
  // Reads what `fd` has now into `into`; false at EOF or error (the fd is then closed).
  static bool Drain(fsat::UniqueFd& fd, std::string* into, size_t limit);
  bool Reap(bool block);

  pid_t pid_ = -1;
  fsat::UniqueFd pidfd_;  // readable once the child exited
  fsat::UniqueFd out_fd_;
  fsat::UniqueFd err_fd_;
  std::optional<int> exit_code_;
  std::string out_;
  std::string err_;
};

}  // namespace zunvm::oci
