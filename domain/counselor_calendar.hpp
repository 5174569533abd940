#pragma once
// A counsellor's bookable time: weekly wall-clock windows in an IANA time zone, date
// overrides, a buffer between sessions and a minimum notice. Pure functions over instants;
// the only outside input is the system tz database (read-only, via date/tz).
#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "domain/expected.hpp"
#include "domain/json.hpp"
#include "domain/rejection.hpp"
#include "domain/time.hpp"

namespace counsel::calendar {

// Local minutes since midnight, 0 <= start < end <= 1440.
struct Window {
  int start_minute = 0;
  int end_minute = 0;
  friend bool operator==(const Window&, const Window&) = default;
};
struct WeeklyWindow {
  std::chrono::weekday day;
  Window window;
  friend bool operator==(const WeeklyWindow&, const WeeklyWindow&) = default;
};
// unavailable=true: no windows that local date. Otherwise `windows` replace the weekly ones.
struct DateOverride {
  std::chrono::year_month_day date;
  bool unavailable = false;
  std::vector<Window> windows;
  friend bool operator==(const DateOverride&, const DateOverride&) = default;
};
struct Availability {
  std::string time_zone;
  std::vector<WeeklyWindow> weekly;  // sorted by (day mon..sun, start) after parsing
  int buffer_minutes = 0;
  int min_notice_minutes = 0;
  std::vector<DateOverride> overrides;  // sorted by date after parsing
  friend bool operator==(const Availability&, const Availability&) = default;
};
// Half-open [start, end).
struct Interval {
  Timestamp start;
  Timestamp end;
  friend bool operator==(const Interval&, const Interval&) = default;
};

inline constexpr int kMaxBufferMinutes = 240;
inline constexpr int kMaxMinNoticeMinutes = 43200;
inline constexpr size_t kMaxWindows = 50;  // weekly windows; also per override
inline constexpr size_t kMaxOverrides = 400;

// Validates and parses the JSON object of PUT /counselors/{id}/availability (and of the
// counselor.availability_set event data; members it does not know, like counselor_id, are
// ignored): {time_zone, weekly:[{day:"mon".."sun", start:"HH:MM", end:"HH:MM"}],
// buffer_minutes (0..240, default 0), min_notice_minutes (0..43200, default 0),
// overrides (default []):[{date:"YYYY-MM-DD", unavailable: bool, windows?:[{start,end}]}]}.
// An override with unavailable=false must list at least one window. The result is
// normalized (weekly sorted by day then start, overrides by date, windows by start), so
// availability_to_json(parse(x)) is canonical.
// Failures: Rejection{invalid, "invalid_availability", message naming the field}.
Expected<Availability, Rejection> parse_availability(const json::Value& obj);

// Canonical JSON object text with the same field names parse_availability reads.
std::string availability_to_json(const Availability& a);
// Writes the same members into an already started object (for event data and views).
void write_availability_members(json::Writer& w, const Availability& a);

// Active sessions ordered by start, for O(log n) overlap checks on a counsellor with very many
// sessions. Intervals may be added in any order; overlapping entries are tolerated.
class BusyIndex {
 public:
  BusyIndex() = default;
  explicit BusyIndex(const std::vector<Interval>& intervals);
  void add(Interval i);
  // Removes one entry equal to `i`; returns false if there is none.
  bool remove(Interval i);
  // True if `wanted` and some entry are less than `buffer` apart (or overlap).
  bool conflicts(Interval wanted, std::chrono::minutes buffer) const;
  size_t size() const { return by_start_.size(); }
  // Entries whose [start, end) meets [from, to), by start.
  std::vector<Interval> between(Timestamp from, Timestamp to) const;

 private:
  std::multimap<Timestamp, Timestamp> by_start_;  // start -> end
  std::chrono::milliseconds longest_{0};          // bounds the backwards scan in conflicts()
};

enum class SlotProblem { none, in_past, too_soon, outside_availability, overlaps };
const char* to_string(SlotProblem p);

// Checks in this order: in_past (start < now), too_soon (start < now + min notice),
// outside_availability (not fully inside one local window of one local date), overlaps.
// `busy` = the counsellor's active (requested/confirmed) sessions, NOT widened: a conflict is
// any gap shorter than buffer_minutes between `wanted` and a busy interval (equivalently both
// are widened at their end by the buffer). The vector form scans linearly (any order); the
// BusyIndex form is O(log n + k) for aggregates with many sessions.
SlotProblem check_slot(const Availability& a, const std::vector<Interval>& busy, Interval wanted,
                       Timestamp now);
SlotProblem check_slot(const Availability& a, const BusyIndex& busy, Interval wanted,
                       Timestamp now);

// Free bookable slots of `duration` whose start lies in [from, to): candidates start every
// `step` of local wall-clock time from each window's local start (local times in a DST gap are
// skipped, ambiguous ones take the earlier instant), must end inside the window, and must pass
// check_slot. Sorted by start, without duplicates. At most kMaxSlots are returned; a step or
// duration that is not positive yields nothing.
inline constexpr size_t kMaxSlots = 10000;
std::vector<Interval> free_slots(const Availability& a, const std::vector<Interval>& busy,
                                 Timestamp from, Timestamp to, std::chrono::minutes duration,
                                 Timestamp now,
                                 std::chrono::minutes step = std::chrono::minutes{30});

// The UTC intervals of the windows of one local date (after overrides and DST resolution).
std::vector<Interval> windows_on(const Availability& a, std::chrono::year_month_day local_date);

// "mon".."sun" <-> weekday; "HH:MM" <-> minutes.
std::optional<std::chrono::weekday> parse_day(std::string_view s);
const char* day_name(std::chrono::weekday d);
std::string format_hhmm(int minutes);

}  // namespace counsel::calendar
