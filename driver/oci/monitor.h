// One container run as host processes by an OCI runtime (runc or crun), with conmon as its
// monitor: conmon is the container's parent, owns its stdio (a log file in the k8s-file
// format) and records its exit code in a file, and it outlives zunvmd. zunvmd may therefore
// die at any point and come back: the container keeps running and logging, ReadLog resumes at
// the offset zunvmd last stored, ExitCodeOf finds the code the monitor recorded, and the
// runtime (StateOf) still knows the container. See docs/runtimes.md.
//
// The container's sandbox dir `dir` (MonitorPaths) is the bundle: config.json is there (made by
// the caller, BuildOciSpec), and conmon keeps its files there:
//   dir/ctr.log      the container's output, k8s-file format (conmon appends; never rotated)
//   dir/exit/<id>    the exit code, written once the container's init exited (Docker's
//                    convention: 128+signal for a signal death; -1 when conmon could not tell)
//   dir/conmon.pid   the monitor's pid; dir/ctr.pid the container init's (the runtime's)
//   dir/attach       conmon's attach socket (SOCK_SEQPACKET) while the monitor runs; its
//                    fifos dir/ctl and dir/winsz (left behind)
//   dir/exec-*.json  an exec's process spec and dir/exec-*.pid its pid, during ExecInContainer
//
// Processes: CreateContainer starts conmon with only stdio and its sync pipe open, the
// caller's environment minus systemd's NOTIFY_SOCKET/LISTEN_*, in `dir`. conmon forks once
// more and the first process exits: the monitor is re-parented to init (or the nearest
// subreaper), in its own session, in the caller's cgroup; zunvmd's unit keeps it with
// KillMode=process. The container itself is in the cgroup of its config.json. Whoever
// inherits orphans (init) must reap them: a failed crun exec leaves a process of the
// container's PID namespace re-parented there, and the container's init cannot finish exiting
// (nor conmon record it) while that zombie stays unreaped.
//
// Threads: the functions share no state and may run on any thread; different containers in
// parallel. The caller serialises the operations on one container (the runtimes do not
// promise to).
// Each runtime command runs under OciRuntime::timeout: past it the command is killed and the
// call returns DeadlineExceeded.
//
// Errors: InvalidArgument for an id or path that cannot be one (checked before anything
// runs); NotFound when the runtime does not know the container; Conflict for kill, pause and
// resume of a container that has stopped; DeadlineExceeded past a timeout; Internal with the
// runtime's or conmon's own message otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/timefmt.h"
#include "driver/driver.h"

namespace zunvm::oci {

// Where a container's files are: all under its sandbox dir (made by the caller, 0711; the
// container's root is wherever its config.json says).
struct MonitorPaths {
  std::string dir;  // absolute

  std::string Bundle() const { return dir; }
  std::string Log() const { return dir + "/ctr.log"; }
  std::string ExitDir() const { return dir + "/exit"; }
  std::string MonitorPidFile() const { return dir + "/conmon.pid"; }
  std::string ContainerPidFile() const { return dir + "/ctr.pid"; }
  std::string AttachSocket() const { return dir + "/attach"; }
};

// Which programs run containers, and where the runtime keeps its state.
struct OciRuntime {
  std::string binary = "/usr/bin/runc";     // or /usr/bin/crun
  std::string monitor = "/usr/bin/conmon";
  std::string root;                         // the runtime's --root (e.g. <state>/oci-runtime); required
  std::chrono::seconds timeout{60};         // for each runtime command, and for a create
};

// The container's stdio as conmon sets it up; must agree with config.json's process.terminal.
struct ContainerStdio {
  bool terminal = false;    // a pty (one stream, logged as stdout)
  bool open_stdin = false;  // a stdin pipe, fed through the attach socket
};

// An id is what the runtime and conmon name the container (and the exit file): 1-128 of
// [A-Za-z0-9_.-], not starting with '.' or '-'.
bool ValidContainerId(const std::string& id);

// Creates the container (conmon, which runs `<runtime> create`), not started: the process of
// config.json waits in the runtime's init for StartContainer. conmon stays its parent and
// survives the caller. Waits for conmon's report on its sync pipe; returns the container's
// init pid. A stale exit file of `id` in dir/exit is removed first; the log is appended to.
// On failure (the runtime's message in an Internal error) the runtime's state of `id` is
// removed again.
Result<int> CreateContainer(const OciRuntime& rt, const std::string& id, const MonitorPaths& p,
                            const ContainerStdio& stdio = {});

Status StartContainer(const OciRuntime& rt, const std::string& id);              // runtime start
Status KillContainer(const OciRuntime& rt, const std::string& id, int signal);   // runtime kill
Status PauseContainer(const OciRuntime& rt, const std::string& id);              // runtime pause
Status ResumeContainer(const OciRuntime& rt, const std::string& id);             // runtime resume

// `<runtime> delete --force` (killing the container if it runs), then waits (rt.timeout) for
// the container's conmon to write the exit file and exit, SIGKILLing it past that. Idempotent:
// a container the runtime does not know is Ok. Leaves dir and its files to the caller.
Status DeleteContainer(const OciRuntime& rt, const std::string& id, const MonitorPaths& p);

// The runtime's view: status (created, running, paused, stopped) and the init's pid (0 once
// stopped). NotFound when the runtime does not know the container.
struct RuntimeState {
  SandboxState status = SandboxState::kStopped;
  int pid = 0;
};
Result<RuntimeState> StateOf(const OciRuntime& rt, const std::string& id);

// The exit code conmon recorded for `id` (dir/exit/<id>): the init's exit status, 128+signal
// when a signal ended it; nullopt while it runs (or when the file is not a number).
std::optional<int> ExitCodeOf(const MonitorPaths& p, const std::string& id);

// The pid of the conmon monitoring `id` in `p` when it is alive (dir/conmon.pid, checked
// against the process's command line, so a recycled pid is not taken for it); nullopt once it
// exited. A container the runtime reports running without a monitor has lost its stdio and
// exit code: recovery should kill it.
std::optional<int> MonitorPidOf(const MonitorPaths& p, const std::string& id);

// Runs a process in the running container (`<runtime> exec`) and waits up to `timeout`.
// `process` is an OCI process object (args, env, cwd, user, ...; terminal must be false).
// Returns its output (stdout and stderr interleaved as produced; the first 1 MiB) and exit
// code (128+signal when a signal ended it). Past `timeout` the process is SIGKILLed and the
// result is DeadlineExceeded. A process the runtime could not start is an error with the
// runtime's message (Internal; NotFound for an unknown container), never an exit code.
Result<ExecResult> ExecInContainer(const OciRuntime& rt, const std::string& id, const MonitorPaths& p,
                                   const nlohmann::json& process, std::chrono::seconds timeout);

// ---- The log (driver/oci/log_reader.cc) ----

// A piece of the container's output: a line with its newline, or a partial line without one.
struct LogChunk {
  Stream stream = Stream::kStdout;
  std::string data;
  TimePoint time;  // when conmon read it (its first record's timestamp)
  // The log offset just past its last record: the same for a chunk however the reads that
  // found it were cut, so it names the chunk across restarts (an OutputMark's seq).
  uint64_t end = 0;
};
struct LogBatch {
  std::vector<LogChunk> chunks;
  uint64_t next_offset = 0;  // where the next ReadLog starts: everything before is in `chunks`
};

// Reads dir/ctr.log from byte `offset` (0 or a previous next_offset). conmon writes one record
// per line: "<RFC 3339 nano time> <stdout|stderr> <F|P> <content>\n", F holding a whole line
// (its newline was the record's), P a piece of one (the record's newline is conmon's). Only
// whole records are consumed; P pieces are joined with the rest of their line (a piece
// interrupted by the other stream is delivered as it is). A line still open at the end of the
// file (its last records P) is held back (next_offset before it) until it completes, unless
// `exited` (the exit file exists: conmon drained the container's output before writing it, so
// the line is delivered as it is) or the line runs past max_bytes + 64 KiB (delivered in
// pieces, so a line that never ends cannot stall the log). Consumes about `max_bytes` of the
// file per call (always at least one record; a line being joined may run on). Persisting
// next_offset with what was delivered makes delivery exactly-once across restarts.
// Hostile input: a record that does not parse is skipped (its bytes consumed); a run of more
// than 64 KiB without a newline (conmon never writes one) is skipped too; never a crash.
// With `records`, nothing is joined or held back: each record is a chunk of its own (a P piece
// without a newline), so a prompt that ends without one is delivered as soon as conmon logged
// it, and every chunk still ends where its record does (stable across reads).
// Errors: NotFound when the log does not exist, InvalidArgument for an offset past its end,
// Internal for an I/O error.
Result<LogBatch> ReadLog(const MonitorPaths& p, uint64_t offset, size_t max_bytes, bool exited = false,
                         bool records = false);

}  // namespace zunvm::oci
