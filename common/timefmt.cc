#include "common/timefmt.h"

#include <cstdio>
#include <ctime>

#include "common/strings.h"

namespace zunvm {

using namespace std::chrono;

static std::tm UtcTm(TimePoint t) {
  std::time_t tt = system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}

std::string FormatApiTime(TimePoint t) {
  std::tm tm = UtcTm(t);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S+00:00", &tm);
  return buf;
}

std::string FormatRfc3339Nano(TimePoint t) {
  auto ns = duration_cast<nanoseconds>(t.time_since_epoch()).count();
  int64_t secs = ns / 1000000000, frac = ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    --secs;
  }
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%09lldZ", buf, static_cast<long long>(frac));
  return out;
}

std::optional<TimePoint> ParseRfc3339Nano(const std::string& s) {
  std::tm tm{};
  int frac_len = 0;
  long long frac = 0;
  if (s.size() < 20) return std::nullopt;
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  if (*rest == '.') {
    ++rest;
    while (*rest >= '0' && *rest <= '9' && frac_len < 9) {
      frac = frac * 10 + (*rest - '0');
      ++rest;
      ++frac_len;
    }
    while (frac_len < 9) {
      frac *= 10;
      ++frac_len;
    }
  }
  if (*rest != 'Z') return std::nullopt;
  std::time_t secs = timegm(&tm);
  return TimePoint(duration_cast<system_clock::duration>(seconds(secs) + nanoseconds(frac)));
}

std::string HumanDuration(seconds d) {
  int64_t s = d.count();
  if (s < 1) return "Less than a second";
  if (s == 1) return "1 second";
  if (s < 60) return std::to_string(s) + " seconds";
  int64_t m = s / 60;
  if (m == 1) return "About a minute";
  if (m < 60) return std::to_string(m) + " minutes";
  int64_t h = static_cast<int64_t>(static_cast<double>(s) / 3600 + 0.5);
  if (h == 1) return "About an hour";
  if (h < 48) return std::to_string(h) + " hours";
  if (h < 24 * 7 * 2) return std::to_string(h / 24) + " days";
  if (h < 24 * 30 * 2) return std::to_string(h / 24 / 7) + " weeks";
  if (h < 24 * 365 * 2) return std::to_string(h / 24 / 30) + " months";
  return std::to_string(h / 24 / 365) + " years";
}

int64_t ToMicros(TimePoint t) {
  return duration_cast<microseconds>(t.time_since_epoch()).count();
}

TimePoint FromMicros(int64_t us) {
  return TimePoint(duration_cast<system_clock::duration>(microseconds(us)));
}

std::optional<TimePoint> ParseSince(const std::string& s) {
  if (auto d = ParseDouble(s)) {
    if (*d < 0 || *d > 1e11) return std::nullopt;
    return TimePoint(duration_cast<system_clock::duration>(duration<double>(*d)));
  }
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  long long ms = 0;
  if (*rest == ',' || *rest == '.') {
    ++rest;
    int n = 0;
    while (*rest >= '0' && *rest <= '9' && n < 3) {
      ms = ms * 10 + (*rest++ - '0');
      ++n;
    }
    while (n++ < 3) ms *= 10;
    while (*rest >= '0' && *rest <= '9') ++rest;
  }
  if (*rest != '\0') return std::nullopt;
  return TimePoint(duration_cast<system_clock::duration>(seconds(timegm(&tm)) + milliseconds(ms)));
}

}  // namespace zunvm
