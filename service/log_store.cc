#include "service/log_store.h"

#include <sys/stat.h>

#include <cstdio>
#include <deque>
#include <fstream>
#include <sstream>
#include <vector>

namespace zunvm {

LogStore::LogStore(std::string dir, int64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}

std::string LogStore::PathFor(const std::string& uuid) const { return dir_ + "/" + uuid + ".log"; }

Status LogStore::Append(const std::string& uuid, Stream stream, const std::string& data,
                        TimePoint when) {
  if (data.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(mu_);
  std::string path = PathFor(uuid);
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0 && st.st_size >= max_bytes_) {
    std::rename(path.c_str(), (path + ".1").c_str());
  }
  std::ofstream out(path, std::ios::app | std::ios::binary);
  if (!out) return Status::Internal("cannot open log file " + path);
  std::string ts = FormatRfc3339Nano(when);
  const char* name = stream == Stream::kStdout ? "stdout" : "stderr";
  size_t start = 0;
  while (start < data.size()) {
    size_t nl = data.find('\n', start);
    bool full = nl != std::string::npos;
    size_t end = full ? nl : data.size();
    out << ts << ' ' << name << ' ' << (full ? 'F' : 'P') << ' ';
    out.write(data.data() + start, static_cast<std::streamsize>(end - start));
    out << '\n';
    start = full ? nl + 1 : data.size();
  }
  out.flush();
  if (!out) return Status::Internal("cannot write log file " + path);
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
        // "<ts> <stream> <tag> <text>"
        size_t a = rec.find(' ');
        if (a == std::string::npos) continue;
        size_t b = rec.find(' ', a + 1);
        if (b == std::string::npos || b + 2 > rec.size()) continue;
        std::string ts = rec.substr(0, a);
        std::string sname = rec.substr(a + 1, b - a - 1);
        char tag = rec[b + 1];
        std::string text = b + 3 <= rec.size() ? rec.substr(b + 3) : std::string();
        int s = sname == "stdout" ? 1 : sname == "stderr" ? 2 : 0;
        if (s == 0) continue;
        if (partial[s].empty()) partial_ts[s] = ts;
        partial[s] += text;
        if (tag == 'P') continue;
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
  return Status::Ok();
}

}  // namespace zunvm
