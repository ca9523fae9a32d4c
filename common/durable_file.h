// Small state files that must survive a crash whole: written to "<path>.tmp", fsynced, then
// renamed over `path`, so a reader finds either the old content or the new, never a mix.
// Thread safety: concurrent writers of one path must be serialised by the caller.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace zunvm {

// Internal (naming the path and errno's text) when the file cannot be written; NoSpace when
// its filesystem is full.
Status WriteFileDurably(const std::string& path, const std::string& data, mode_t mode = 0600);

}  // namespace zunvm
