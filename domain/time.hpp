#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace counsel {

// All instants are UTC milliseconds since the Unix epoch.
using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;
using Minutes = std::chrono::minutes;

// RFC 3339 with a 'Z' or numeric offset on input; always "YYYY-MM-DDTHH:MM:SS.mmmZ" on output.
std::optional<Timestamp> parse_rfc3339(std::string_view text);
std::string format_rfc3339(Timestamp t);

// "YYYY-MM-DD" (a calendar date, no zone).
std::optional<std::chrono::year_month_day> parse_date(std::string_view text);
std::string format_date(std::chrono::year_month_day d);

}  // namespace counsel
