// Time formatting for API output. Pure functions over a time point; the caller supplies "now"
// so tests are deterministic.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace zunvm {

using TimePoint = std::chrono::system_clock::time_point;

// "2025-11-28 04:14:53+00:00" (how Zun renders created_at/updated_at).
std::string FormatApiTime(TimePoint t);
// RFC 3339 with nanoseconds, UTC: "2025-11-28T04:14:53.123456789Z" (log timestamps).
std::string FormatRfc3339Nano(TimePoint t);
std::optional<TimePoint> ParseRfc3339Nano(const std::string& s);
// Docker's units.HumanDuration: "Less than a second", "3 seconds", "About a minute", ...
std::string HumanDuration(std::chrono::seconds d);
// Microseconds since the epoch, the storage format in SQLite.
int64_t ToMicros(TimePoint t);
TimePoint FromMicros(int64_t us);
// Logs' `since`: epoch seconds (int or float) or "YYYY-MM-DD HH:MM:SS[,fff]" (UTC).
std::optional<TimePoint> ParseSince(const std::string& s);

}  // namespace zunvm
