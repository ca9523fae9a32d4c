#include "common/logging.h"

#include <mutex>

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace zunvm {

namespace {
std::mutex g_mu;
spdlog::level::level_enum g_level = spdlog::level::info;
spdlog::sink_ptr StderrSink() {
  static spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  return sink;
}
spdlog::sink_ptr g_sink;  // guarded by g_mu; null: stderr
spdlog::sink_ptr Sink() { return g_sink ? g_sink : StderrSink(); }
// stderr is unbuffered; a log file is written through a stdio buffer, flushed after every line
// so that `tail -f` and a crash see everything up to the last line.
spdlog::level::level_enum FlushLevel() { return g_sink ? spdlog::level::trace : spdlog::level::warn; }
}  // namespace

void InitLogging(bool debug) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_level = debug ? spdlog::level::debug : spdlog::level::info;
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%n] %v");
  spdlog::apply_all([](std::shared_ptr<spdlog::logger> l) { l->set_level(g_level); });
}

Status SetLogFile(const std::string& log_file, size_t max_bytes, size_t backups) {
  std::lock_guard<std::mutex> lock(g_mu);
  spdlog::sink_ptr sink;
  if (!log_file.empty()) {
    try {
      sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(log_file, max_bytes, backups);
    } catch (const spdlog::spdlog_ex& e) {
      return Status::Internal("cannot open log file " + log_file + ": " + e.what());
    }
  }
  g_sink = sink;
  spdlog::sink_ptr now = Sink();
  spdlog::apply_all([&now](std::shared_ptr<spdlog::logger> l) {
    l->sinks().assign(1, now);
    l->flush_on(FlushLevel());
  });
  return Status::Ok();
}

std::shared_ptr<spdlog::logger> Logger(const std::string& name) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (auto l = spdlog::get(name)) return l;
  auto l = std::make_shared<spdlog::logger>(name, Sink());
  l->set_level(g_level);
  l->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%n] %v");
  l->flush_on(FlushLevel());
  spdlog::register_logger(l);
  return l;
}

}  // namespace zunvm
