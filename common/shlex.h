// POSIX-shell-style word splitting (Python's shlex.split in posix mode): what Zun does with
// `command` strings below microversion 1.20 and with every `execute` command.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace zunvm {

// InvalidArgument on an unterminated quote or a trailing backslash.
Result<std::vector<std::string>> ShellSplit(const std::string& s);

}  // namespace zunvm
