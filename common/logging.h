// Logging set-up: one spdlog logger per subsystem sharing one stderr sink.
// Call InitLogging once from main() before any thread starts; Logger() is thread-safe.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "common/status.h"

namespace zunvm {

void InitLogging(bool debug);
// Sends every logger (existing and future) to `log_file`, rotated at `max_bytes` keeping
// `backups` old files, or back to stderr when `log_file` is empty. Call before threads start.
// Internal when the file cannot be opened (then the loggers stay as they were).
Status SetLogFile(const std::string& log_file, size_t max_bytes, size_t backups);
// "api", "service", "driver", "db"... created on first use with the shared sink.
std::shared_ptr<spdlog::logger> Logger(const std::string& name);

}  // namespace zunvm
