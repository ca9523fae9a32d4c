// Running a helper program (mkfs.ext4, qemu-img...) with an argv, never through a shell:
// no user string is ever interpreted. Output (stdout + stderr) is captured up to 64 KiB.
// Thread-safe (no shared state; uses posix_spawn). Errors: Internal if it cannot start.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace zunvm {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal if killed
  std::string output;
};

Result<ProcessResult> RunProcess(const std::vector<std::string>& argv);
// RunProcess, and Internal "<argv> failed (<code>): <output>" when it exits non-zero.
Status RunChecked(const std::vector<std::string>& argv);

}  // namespace zunvm
