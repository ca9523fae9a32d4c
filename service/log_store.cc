#include "service/log_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string_view>
#include <vector>

#include "common/fs_at.h"
#include "common/logging.h"

namespace zunvm {

LogStore::LogStore(std::string dir, int64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}

std::string LogStore::PathFor(const std::string& uuid) const { return dir_ + "/" + uuid + ".log"; }

namespace {

// A mark goes into a tag only when it cannot break the record: base64/hex-like boot ids.
bool Storable(const OutputMark& m) {
  if (m.boot.empty() || m.boot.size() > 64 || m.seq == 0) return false;
  for (char c : m.boot) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=' && c != '-') return false;
  }
  return true;
}

// "<ts> <stream> <tag> <text>" split at its first three spaces.
struct Record {
  std::string_view ts, stream, tag, text;
};

std::optional<Record> SplitRecord(std::string_view rec) {
  size_t a = rec.find(' ');
  if (a == std::string_view::npos) return std::nullopt;
  size_t b = rec.find(' ', a + 1);
  if (b == std::string_view::npos || b + 2 > rec.size()) return std::nullopt;
  size_t c = rec.find(' ', b + 1);
  Record r;
  r.ts = rec.substr(0, a);
  r.stream = rec.substr(a + 1, b - a - 1);
  r.tag = rec.substr(b + 1, c == std::string_view::npos ? std::string_view::npos : c - b - 1);
  if (c != std::string_view::npos) r.text = rec.substr(c + 1);
  return r;
}

// The mark in a tag "F:<boot>.<seq>", if any.
std::optional<OutputMark> MarkOf(std::string_view tag) {
  size_t colon = tag.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view m = tag.substr(colon + 1);
  size_t dot = m.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  uint64_t seq = 0;
  auto digits = m.substr(dot + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return OutputMark{std::string(m.substr(0, dot)), seq};
}

}  // namespace

const OutputMark& LogStore::LastMark(const std::string& uuid) {
  auto it = marks_.find(uuid);
  if (it != marks_.end()) return it->second;
  OutputMark last;
  for (const std::string& path : {PathFor(uuid), PathFor(uuid) + ".1"}) {
    std::ifstream in(path, std::ios::binary);
    std::string rec;
    while (in && std::getline(in, rec)) {
      auto r = SplitRecord(rec);
      if (!r) continue;
      if (auto m = MarkOf(r->tag)) last = *m;
    }
    if (!last.boot.empty()) break;  // the newer file has one: the rotated one is older
  }
  return marks_[uuid] = std::move(last);
}

Status LogStore::Append(const std::string& uuid, Stream stream, const std::string& data,
                        TimePoint when, const OutputMark& mark) {
  if (data.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(mu_);
  bool marked = Storable(mark);
  if (marked) {
    const OutputMark& last = LastMark(uuid);
    if (last.boot == mark.boot && mark.seq <= last.seq) return Status::Ok();  // a replay
  }
  std::string path = PathFor(uuid);
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0 && st.st_size >= max_bytes_) {
    std::rename(path.c_str(), (path + ".1").c_str());
  }
  std::string ts = FormatRfc3339Nano(when);
  const char* name = stream == Stream::kStdout ? "stdout" : "stderr";
  std::string text;
  text.reserve(data.size() + 64);
  size_t start = 0;
  while (start < data.size()) {
    size_t nl = data.find('\n', start);
    bool full = nl != std::string::npos;
    size_t end = full ? nl : data.size();
    size_t next = full ? nl + 1 : data.size();
    text += ts;
    text += ' ';
    text += name;
    text += full ? " F" : " P";
    if (marked && next >= data.size()) text += ":" + mark.boot + "." + std::to_string(mark.seq);
    text += ' ';
    text.append(data, start, end - start);
    text += '\n';
    start = next;
  }
  fsat::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  if (fd.get() < 0) return WriteError("cannot open log file " + path, errno);
  // One write: a kill leaves the chunk and its mark both stored or both absent.
  struct stat before{};
  if (::fstat(fd.get(), &before) != 0) return WriteError("cannot stat log file " + path, errno);
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      // A full disk may take part of the chunk: cut it off, so that the file keeps whole
      // records and the next chunk (once there is room) does not continue a torn line.
      if (off > 0 && ::ftruncate(fd.get(), before.st_size) != 0) {
        Logger("service")->warn("cannot cut the torn end off {}: {}", path, std::strerror(errno));
      }
      return WriteError("cannot write log file " + path, err);
    }
    off += static_cast<size_t>(n);
  }
  if (marked) marks_[uuid] = mark;
  return Status::Ok();
}

Result<std::string> LogStore::Read(const std::string& uuid, const LogQuery& q) {
  struct Line {
    std::string ts;
    std::string text;
  };
  std::vector<Line> lines;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Partial records are joined per stream until the record that ends the line.
    std::string partial[3];
    std::string partial_ts[3];
    for (const std::string& path : {PathFor(uuid) + ".1", PathFor(uuid)}) {
      std::ifstream in(path, std::ios::binary);
      if (!in) continue;
      std::string rec;
      while (std::getline(in, rec)) {
        auto r = SplitRecord(rec);
        if (!r || r->tag.empty()) continue;
        std::string ts(r->ts);
        bool part = r->tag[0] == 'P';
        int s = r->stream == "stdout" ? 1 : r->stream == "stderr" ? 2 : 0;
        if (s == 0) continue;
        if (partial[s].empty()) partial_ts[s] = ts;
        partial[s] += r->text;
        if (part) continue;
        bool want = (s == 1 && q.stdout_) || (s == 2 && q.stderr_);
        if (want) {
          bool keep = true;
          if (q.since) {
            auto t = ParseRfc3339Nano(partial_ts[s]);
            keep = t && *t >= *q.since;
          }
          if (keep) lines.push_back({partial_ts[s], partial[s] + "\n"});
        }
        partial[s].clear();
      }
    }
    // A trailing partial line (process still writing) is shown as is.
    for (int s = 1; s <= 2; ++s) {
      bool want = (s == 1 && q.stdout_) || (s == 2 && q.stderr_);
      if (want && !partial[s].empty()) lines.push_back({partial_ts[s], partial[s]});
    }
  }
  size_t first = 0;
  if (q.tail && *q.tail >= 0 && static_cast<size_t>(*q.tail) < lines.size()) {
    first = lines.size() - static_cast<size_t>(*q.tail);
  }
  std::string out;
  for (size_t i = first; i < lines.size(); ++i) {
    if (q.timestamps) out += lines[i].ts + " ";
    out += lines[i].text;
  }
  return out;
}

Status LogStore::Remove(const std::string& uuid) {
  std::lock_guard<std::mutex> lock(mu_);
  std::remove(PathFor(uuid).c_str());
  std::remove((PathFor(uuid) + ".1").c_str());
  marks_.erase(uuid);
  return Status::Ok();
}

}  // namespace zunvm
