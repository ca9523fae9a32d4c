// ReadLog (driver/oci/monitor.h): conmon's k8s-file log, read from an offset.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "common/fs_at.h"
#include "driver/oci/monitor.h"

namespace zunvm::oci {

namespace {

// conmon's records are at most its read buffer (8 KiB) plus the prefix: a longer run without
// a newline is not one of its records.
constexpr size_t kMaxRecord = 64 << 10;
constexpr size_t kMaxWindow = 64 << 20;

// "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)", as conmon writes it (local time with its
// offset) or in UTC.
std::optional<TimePoint> ParseTime(std::string_view s) {
  auto num = [&](size_t at, size_t n) -> int {
    if (at + n > s.size()) return -1;
    int v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return std::nullopt;
  int y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), sec = num(17, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                         std::chrono::day{static_cast<unsigned>(d)}};
  if (!date.ok()) return std::nullopt;
  size_t i = 19;
  int64_t nanos = 0;
  if (i < s.size() && s[i] == '.') {
    int digits = 0;
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++digits) {
      if (digits < 9) nanos = nanos * 10 + (s[i] - '0');
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 9; ++digits) nanos *= 10;
  }
  int offset_minutes = 0;
  if (i < s.size() && s[i] == 'Z') {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh = num(i + 1, 2), om = num(i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59 || s[i + 3] != ':') return std::nullopt;
    offset_minutes = (s[i] == '-' ? -1 : 1) * (oh * 60 + om);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  auto t = std::chrono::sys_days(date) + std::chrono::hours(h) + std::chrono::minutes(mi - offset_minutes) +
           std::chrono::seconds(sec) + std::chrono::nanoseconds(nanos);
  return std::chrono::time_point_cast<TimePoint::duration>(t);
}

struct Record {
  Stream stream;
  bool partial;
  TimePoint time;
  std::string_view content;
};

// One line of the log, its newline excluded: "<time> <stdout|stderr> <F|P>[:<mark>] <content>".
std::optional<Record> ParseRecord(std::string_view line) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return std::nullopt;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return std::nullopt;
  Record r{};
  std::string_view stream = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (stream == "stdout") {
    r.stream = Stream::kStdout;
  } else if (stream == "stderr") {
    r.stream = Stream::kStderr;
  } else {
    return std::nullopt;
  }
  size_t sp3 = line.find(' ', sp2 + 1);
  std::string_view tag = line.substr(sp2 + 1, sp3 == std::string_view::npos ? std::string_view::npos : sp3 - sp2 - 1);
  if (tag.empty() || (tag[0] != 'F' && tag[0] != 'P') || (tag.size() > 1 && tag[1] != ':')) return std::nullopt;
  r.partial = tag[0] == 'P';
  auto time = ParseTime(line.substr(0, sp1));
  if (!time) return std::nullopt;
  r.time = *time;
  r.content = sp3 == std::string_view::npos ? std::string_view() : line.substr(sp3 + 1);
  return r;
}

}  // namespace

Result<LogBatch> ReadLog(const MonitorPaths& p, uint64_t offset, size_t max_bytes, bool exited, bool records) {
  max_bytes = std::clamp<size_t>(max_bytes, 1, kMaxWindow);
  const std::string path = p.Log();
  fsat::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Err(Status::NotFound("no log " + path));
    return Err(Status::Internal("cannot open " + path + ": " + std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return Err(Status::Internal(path + " is not a readable file"));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (offset > size) {
    return Err(Status::Invalid("log offset " + std::to_string(offset) + " is past the end of " + path + " (" +
                               std::to_string(size) + " bytes)"));
  }
  // Enough for the records that start within max_bytes to end within the window.
  std::string buf(static_cast<size_t>(std::min<uint64_t>(size - offset, max_bytes + kMaxRecord)), '\0');
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::pread(fd.get(), buf.data() + got, buf.size() - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Err(Status::Internal("cannot read " + path + ": " + std::strerror(errno)));
    if (n == 0) break;  // truncated under us: what was read is all there is
    got += static_cast<size_t>(n);
  }
  buf.resize(got);

  LogBatch out;
  struct Pending {
    LogChunk chunk;
    size_t start;  // where its first record begins in buf
    size_t end;    // where its last record so far ends
  };
  std::optional<Pending> pending;  // a line whose P records were read, not yet its F
  auto flush = [&] {
    if (pending) {
      pending->chunk.end = offset + pending->end;
      out.chunks.push_back(std::move(pending->chunk));
    }
    pending.reset();
  };
  size_t pos = 0;
  // Stopped short of the end of what was written: at max_bytes, or at the end of the window.
  bool limited = got < size - offset;
  while (pos < buf.size()) {
    if (pos >= max_bytes && !pending) {  // a line being joined may go on to the window's end
      limited = true;
      break;
    }
    const char* nl = static_cast<const char*>(std::memchr(buf.data() + pos, '\n', buf.size() - pos));
    if (!nl) {
      // An unfinished record: wait for the rest, unless it cannot be one of conmon's.
      if (exited || buf.size() - pos >= kMaxRecord) pos = buf.size();
      break;
    }
    const size_t start = pos;
    const size_t end = static_cast<size_t>(nl - buf.data());
    pos = end + 1;
    auto r = ParseRecord(std::string_view(buf).substr(start, end - start));
    if (!r) continue;  // not a record: skipped
    if (records) {  // each record as it is: what conmon read, when it read it
      LogChunk c{r->stream, std::string(r->content), r->time, offset + pos};
      if (!r->partial) c.data.push_back('\n');
      out.chunks.push_back(std::move(c));
      continue;
    }
    if (pending && pending->chunk.stream != r->stream) flush();
    if (r->partial) {
      if (!pending) pending = Pending{LogChunk{r->stream, {}, r->time, 0}, start, pos};
      pending->chunk.data.append(r->content);
      pending->end = pos;
      continue;
    }
    if (pending) {
      pending->chunk.data.append(r->content).push_back('\n');
      pending->end = pos;
      flush();
    } else {
      LogChunk c{r->stream, std::string(r->content), r->time, offset + pos};
      c.data.push_back('\n');
      out.chunks.push_back(std::move(c));
    }
  }
  if (pending && !exited && !limited) {
    out.next_offset = offset + pending->start;  // the rest of its line is still to come
  } else {
    flush();
    out.next_offset = offset + pos;
  }
  return out;
}

}  // namespace zunvm::oci
