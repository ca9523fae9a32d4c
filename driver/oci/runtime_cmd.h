// Internal to driver/oci (monitor.cc, exec.cc): checking the caller's input, running the OCI
// runtime under its timeout, turning its failures into a Status, and the small /proc and pid
// file readers they share. Thread safety: no shared state.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/proc_stats.h"
#include "common/status.h"
#include "driver/oci/child_process.h"
#include "driver/oci/monitor.h"

namespace zunvm::oci::detail {

// How long a process gets to go after SIGKILL (or the runtime after its process died).
inline constexpr std::chrono::seconds kKillGrace{5};

// Never handed to conmon or the runtime: systemd's socket activation and readiness protocol
// belong to zunvmd (runc would give the container a proxy of NOTIFY_SOCKET), and conmon's
// pipes are only the ones CreateContainer opens.
const std::vector<std::string>& DroppedEnv();

std::string Basename(const std::string& path);

// InvalidArgument unless the runtime's paths are absolute and `id` is ValidContainerId (and,
// with `p`, its dir absolute).
Status Check(const OciRuntime& rt, const std::string& id);
Status Check(const OciRuntime& rt, const std::string& id, const MonitorPaths& p);

// A file's first 4 KiB; nullopt when it cannot be read.
std::optional<std::string> ReadSmallFile(const std::string& path);
// A process's state letter and parent pid (/proc/<pid>/stat); nullopt when it is gone.
std::optional<std::pair<char, int>> ProcStat(int pid);
bool Exited(char state);  // a zombie (or dead)

// What the runtime said, for an error message: runc's `level=error msg="..."` lines give the
// message of the last one, unquoted; anything else (crun, conmon) is taken as it is, trimmed.
// At most 2000 bytes, valid UTF-8 (other bytes become '?').
std::string RuntimeMessage(const std::string& text);

// Whether the runtime holds state for `id`: runc and crun both keep a directory <root>/<id>.
bool KnownToRuntime(const OciRuntime& rt, const std::string& id);

// `<runtime> --root <root> args...` run to its end; DeadlineExceeded (and killed) past
// rt.timeout. A non-zero exit is the caller's to judge.
Result<Child> RunRuntime(const OciRuntime& rt, const std::vector<std::string>& args);

// The error for a runtime command `what` that failed: NotFound when the runtime does not know
// `id`, else Internal with the runtime's message.
Status Failed(const OciRuntime& rt, const std::string& id, const std::string& what, const Child& c);

}  // namespace zunvm::oci::detail
