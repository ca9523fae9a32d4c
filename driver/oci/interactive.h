// Interactive processes in a trusted container: `<runtime> exec` in the foreground with stdin
// open, for consoles (exec -it). With a terminal its stdio is a pty of ours (the runtime gives
// the process a console of its own, relays it to our pty in raw mode, and follows our pty's size
// on SIGWINCH, as when a user types `runc exec -t` in a terminal); without one, pipes. And
// writing to a container's main process stdin through its conmon's attach socket.
//
// Threads: no shared state. Errors: InvalidArgument for a bad process, Internal for a failed
// system call (errno's text).
#pragma once

#include <sys/types.h>

#include <string>

#include <nlohmann/json.hpp>

#include "common/fs_at.h"
#include "common/status.h"
#include "driver/oci/monitor.h"

namespace zunvm::oci {

struct InteractiveProcess {
  pid_t pid = -1;      // the runtime's exec, our child: the caller reaps it (its exit code is the process's)
  fsat::UniqueFd io;   // tty: the pty's master (output, input, size); else the stdout+stderr pipe
  fsat::UniqueFd in;   // without a tty: the stdin pipe's write end
  std::string spec;    // the process.json written for the runtime: the caller removes it
};

// Starts `process` (an OCI process object; `terminal` says which kind) in container `id`,
// width x height when a terminal and both > 0.
Result<InteractiveProcess> StartInteractive(const OciRuntime& rt, const std::string& id, const MonitorPaths& p,
                                            nlohmann::json process, int width, int height);

// Sets a pty's size (the runtime then resizes the process's console).
Status ResizePty(int master, int width, int height);

// Writes `data` to the stdin of the container's main process (conmon started with stdin open):
// one connection to the attach socket, the data in packets conmon reads whole.
Status WriteMainStdin(const MonitorPaths& p, const std::string& data);

}  // namespace zunvm::oci
