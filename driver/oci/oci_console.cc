// OciDriver: interactive consoles. An exec -it is a foreground `<runtime> exec` whose stdio is a
// pty (or pipes) of ours, read by a thread of its own that ends with the process; the main
// process's stdin is conmon's (written through its attach socket).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "common/logging.h"
#include "driver/oci/interactive.h"
#include "driver/oci/oci_driver_internal.h"

namespace zunvm::oci {

namespace {

std::atomic<uint64_t> next_console{1};

// Reads the process's output until it ends, reaps the runtime's exec and closes the sink.
void PumpConsole(std::weak_ptr<OciDriver::Box> box, std::string id, std::shared_ptr<ConsoleProcess> proc,
                 std::shared_ptr<ProcessSink> sink);

}  // namespace

Result<std::string> OciDriver::ExecInteractive(const std::string& uuid, const std::vector<std::string>& argv, bool tty,
                                               int width, int height, std::shared_ptr<ProcessSink> sink) {
  auto t = Running(uuid, false);
  if (!t) return Err(t.error());
  auto& [b, rt] = *t;
  auto process = ExecProcess(b->dir, argv, tty);
  if (!process) return Err(process.error());
  auto started = StartInteractive(*rt, uuid, MonitorPaths{b->dir}, *process, width, height);
  if (!started) return Err(started.error());
  auto proc = std::make_shared<ConsoleProcess>();
  proc->pid = started->pid;
  proc->tty = tty;
  proc->io = std::move(started->io);
  proc->in = std::move(started->in);
  proc->spec = started->spec;
  const std::string id = "console-" + std::to_string(next_console++);
  {
    std::lock_guard<std::mutex> lock(b->mu);
    b->consoles[id] = proc;
  }
  std::thread(PumpConsole, std::weak_ptr<Box>(b), id, proc, std::move(sink)).detach();
  return id;
}

namespace {

void PumpConsole(std::weak_ptr<OciDriver::Box> box, std::string id, std::shared_ptr<ConsoleProcess> proc,
                 std::shared_ptr<ProcessSink> sink) {
  const int fd = proc->io.get();
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      sink->OnOutput(std::string(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EOF, or EIO once the pty's other side is closed
  }
  int status = 0;
  std::optional<int> code;
  while (::waitpid(proc->pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) code = 128 + WTERMSIG(status);
  ::unlink(proc->spec.c_str());
  if (auto b = box.lock()) {
    std::lock_guard<std::mutex> lock(b->mu);
    b->consoles.erase(id);
  }
  sink->OnClosed(code);
}

}  // namespace

namespace {
Result<std::shared_ptr<ConsoleProcess>> ConsoleOf(OciDriver::Box& b, const std::string& process) {
  std::lock_guard<std::mutex> lock(b.mu);
  auto it = b.consoles.find(process);
  if (it == b.consoles.end()) return Err(Status::NotFound("No process " + process + " in container " + b.uuid));
  return it->second;
}
}  // namespace

Status OciDriver::WriteStdin(const std::string& uuid, const std::string& process, const std::string& data) {
  auto bp = Find(uuid);
  if (!bp) return bp.error();
  Box& b = **bp;
  if (process.empty()) {
    if (!b.rec.spec.interactive) return Status::Conflict("Container " + uuid + " was not made with stdin open");
    ZUNVM_RETURN_IF_ERROR(RequireRunning(b, false));
    return WriteMainStdin(MonitorPaths{b.dir}, data);
  }
  auto proc = ConsoleOf(b, process);
  if (!proc) return proc.error();
  std::lock_guard<std::mutex> lock((*proc)->mu);
  const int fd = (*proc)->tty ? (*proc)->io.get() : (*proc)->in.get();
  if (fd < 0) return Status::Conflict("the stdin of " + process + " is closed");
  for (size_t off = 0; off < data.size();) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::Conflict("the stdin of " + process + " is closed");
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// A pipe closes; a terminal gets its end-of-file character (^D), as a user would type it.
Status OciDriver::CloseStdin(const std::string& uuid, const std::string& process) {
  auto bp = Find(uuid);
  if (!bp) return bp.error();
  if (process.empty()) return Status::Ok();  // the main process's stdin stays open, as in `docker run -i`
  auto proc = ConsoleOf(**bp, process);
  if (!proc) return proc.error();
  std::lock_guard<std::mutex> lock((*proc)->mu);
  if ((*proc)->tty) {
    if ((*proc)->io.get() >= 0) (void)!::write((*proc)->io.get(), "\x04", 1);
  } else {
    (*proc)->in = fsat::UniqueFd();
  }
  return Status::Ok();
}

Status OciDriver::ResizeProcess(const std::string& uuid, const std::string& process, int width, int height) {
  if (process.empty()) return ResizeTty(uuid, width, height);
  auto bp = Find(uuid);
  if (!bp) return bp.error();
  auto proc = ConsoleOf(**bp, process);
  if (!proc) return proc.error();
  if (!(*proc)->tty) return Status::Conflict("process " + process + " has no terminal");
  std::lock_guard<std::mutex> lock((*proc)->mu);
  return ResizePty((*proc)->io.get(), width, height);
}

}  // namespace zunvm::oci
