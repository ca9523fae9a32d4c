// OciDriver's watcher: one thread per run delivers the run's log (from conmon's file) and its
// exit; Watch sinks get the output too.
#include <filesystem>

#include "common/logging.h"
#include "driver/oci/oci_driver_internal.h"

namespace zunvm::oci {

namespace {
constexpr size_t kReadBytes = 1 << 20;
constexpr size_t kGroupBytes = 64 << 10;
}

void OciDriver::StartWatcher(const std::shared_ptr<Box>& b, uint64_t replay_until) {
  std::lock_guard<std::mutex> lock(b->mu);
  b->watcher = std::thread(&OciDriver::WatchRun, this, b, b->rec.run, replay_until);
}

void OciDriver::Quiesce(Box& b) {
  {
    std::lock_guard<std::mutex> lock(b.mu);
    b.quiet = true;
  }
  b.cv.notify_all();
}

void OciDriver::JoinWatcher(Box& b) {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    t = std::move(b.watcher);
  }
  if (t.joinable()) t.join();
}

// Reads the log from its start (the receiver drops chunks it has: their marks) until the exit
// file appears and the log is drained, then reports the exit unless Stop or Delete ended the
// run (quiet). Quiet alone does not end it: Stop wants the output up to the end too. Shutdown
// does, at once.
void OciDriver::WatchRun(std::shared_ptr<Box> b, std::string run, uint64_t replay_until) {
  const MonitorPaths p{b->dir};
  uint64_t offset = 0;
  for (;;) {
    const std::optional<int> code = ExitCodeOf(p, b->uuid);
    bool drained = true;
    // Records as conmon wrote them (a prompt without its newline goes out at once); the
    // groups below join them again.
    auto batch = ReadLog(p, offset, kReadBytes, code.has_value(), /*records=*/true);
    if (batch) {
      std::vector<std::shared_ptr<ProcessSink>> sinks;
      {
        std::lock_guard<std::mutex> lock(b->mu);
        for (auto& [h, s] : b->sinks) sinks.push_back(s);
      }
      // One delivery per group of chunks; a chunk alone in the replayed part.
      std::string group;
      Stream stream = Stream::kStdout;
      uint64_t end = 0;
      auto flush = [&] {
        if (group.empty()) return;
        if (events_) events_->OnOutput(b->uuid, stream, group, OutputMark{run, end});
        for (auto& s : sinks) s->OnOutput(group);
        group.clear();
      };
      for (const auto& c : batch->chunks) {
        if (c.stream != stream || group.size() + c.data.size() > kGroupBytes || c.end <= replay_until) flush();
        stream = c.stream;
        end = c.end;
        group += c.data;
        if (c.end <= replay_until) flush();
      }
      flush();
      drained = batch->next_offset == offset || batch->chunks.empty();
      offset = batch->next_offset;
    } else if (batch.error().code() != Code::kNotFound) {
      Logger("oci")->warn("log of {}: {}", b->uuid, batch.error().message());
    }
    if (!code && drained && !MonitorPidOf(p, b->uuid) && !ExitCodeOf(p, b->uuid)) {
      // conmon is gone without recording an exit: nobody holds the container's output any more.
      bool report;
      {
        std::lock_guard<std::mutex> lock(b->mu);
        report = !b->quiet && b->rec.run == run;
        if (report) {
          b->rec.state = OciState::kStopped;
          b->rec.exit_reported = true;
          (void)Save(*b);
        }
      }
      if (report && events_) events_->OnLost(b->uuid, "the container's monitor (conmon) died");
      return;
    }
    if (code && drained) {
      std::vector<std::shared_ptr<ProcessSink>> sinks;
      bool report;
      {
        std::lock_guard<std::mutex> lock(b->mu);
        for (auto& [h, s] : b->sinks) sinks.push_back(s);
        b->sinks.clear();
        report = !b->quiet && !b->rec.exit_reported && b->rec.run == run;
        if (report) {
          b->rec.state = OciState::kStopped;
          b->rec.exit_code = *code;
          b->rec.exit_reported = true;
          Status st = Save(*b);
          if (!st.ok()) Logger("oci")->warn("sandbox {}: {}", b->uuid, st.ToString());
        }
      }
      for (auto& s : sinks) s->OnClosed(*code);
      if (report && events_) events_->OnExit(b->uuid, *code);
      return;
    }
    std::unique_lock<std::mutex> lock(b->mu);
    if (b->shutdown) return;
    if (!drained) continue;  // more log to read now
    b->cv.wait_for(lock, opts_.poll, [&] { return b->shutdown; });
    if (b->shutdown) return;
  }
}

Result<uint64_t> OciDriver::Watch(const std::string& uuid, std::shared_ptr<ProcessSink> sink) {
  auto bp = Find(uuid);
  if (!bp) return Err(bp.error());
  Box& b = **bp;
  ZUNVM_RETURN_IF_ERROR(RequireRunning(b, true));
  std::lock_guard<std::mutex> lock(b.mu);
  uint64_t h = b.next_sink++;
  b.sinks[h] = std::move(sink);
  return h;
}

void OciDriver::Unwatch(const std::string& uuid, uint64_t handle) {
  auto bp = Find(uuid);
  if (!bp) return;
  std::lock_guard<std::mutex> lock((*bp)->mu);
  (*bp)->sinks.erase(handle);
}

}  // namespace zunvm::oci
