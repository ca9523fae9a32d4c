// Logging set-up: one spdlog logger per subsystem sharing one stderr sink.
// Call InitLogging once from main() before any thread starts; Logger() is thread-safe.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace zunvm {

void InitLogging(bool debug);
// "api", "service", "driver", "db"... created on first use with the shared sink.
std::shared_ptr<spdlog::logger> Logger(const std::string& name);

}  // namespace zunvm
