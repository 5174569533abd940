#include "domain/counselor_calendar.hpp"

#include <date/tz.h>

#include <algorithm>
#include <exception>
#include <iterator>

namespace counsel::calendar {
namespace {

using std::chrono::minutes;
using LocalMinutes = date::local_time<minutes>;

// Guards free_slots against absurd ranges (each local date costs a few tz conversions).
constexpr int kMaxDaysScanned = 1000;
constexpr size_t kMaxTimeZoneLength = 64;

const date::time_zone* find_zone(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxTimeZoneLength) return nullptr;
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;  // unknown zone, or no tz database on this machine
  }
}

date::local_days to_local_days(std::chrono::year_month_day d) {
  return date::local_days{date::days{std::chrono::sys_days{d}.time_since_epoch().count()}};
}

std::chrono::year_month_day to_ymd(date::local_days d) {
  return std::chrono::year_month_day{
      std::chrono::sys_days{std::chrono::days{d.time_since_epoch().count()}}};
}

int day_index(std::chrono::weekday d) {
  return static_cast<int>((d.c_encoding() + 6) % 7);
}

Rejection invalid(std::string message) {
  return Rejection{RejectionKind::invalid, "invalid_availability", std::move(message)};
}

std::optional<int> parse_hhmm(std::string_view s, bool allow_24) {
  if (s.size() != 5 || s[2] != ':') return std::nullopt;
  for (size_t i : {0u, 1u, 3u, 4u})
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  int hh = (s[0] - '0') * 10 + (s[1] - '0');
  int mm = (s[3] - '0') * 10 + (s[4] - '0');
  if (hh == 24 && mm == 0 && allow_24) return 1440;
  if (hh > 23 || mm > 59) return std::nullopt;
  return hh * 60 + mm;
}

Expected<Window, Rejection> parse_window(const json::Value& v, const std::string& where) {
  if (!v.IsObject()) return unexpected(invalid(where + ": expected an object {start, end}"));
  auto start_text = json::get_string(v, "start");
  auto end_text = json::get_string(v, "end");
  if (!start_text) return unexpected(invalid(where + ".start: expected a string \"HH:MM\""));
  if (!end_text) return unexpected(invalid(where + ".end: expected a string \"HH:MM\""));
  auto start = parse_hhmm(*start_text, false);
  if (!start)
    return unexpected(invalid(where + ".start: expected \"HH:MM\" between 00:00 and 23:59"));
  auto end = parse_hhmm(*end_text, true);
  if (!end) return unexpected(invalid(where + ".end: expected \"HH:MM\" between 00:01 and 24:00"));
  if (*start >= *end) return unexpected(invalid(where + ": start must be before end"));
  return Window{*start, *end};
}

// Sorted windows of one day must not overlap (touching is fine).
std::optional<std::string> find_overlap(const std::vector<Window>& sorted) {
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i].start_minute < sorted[i - 1].end_minute)
      return format_hhmm(sorted[i - 1].start_minute) + "-" + format_hhmm(sorted[i - 1].end_minute) +
             " and " + format_hhmm(sorted[i].start_minute) + "-" +
             format_hhmm(sorted[i].end_minute);
  }
  return std::nullopt;
}

bool by_start(const Window& a, const Window& b) {
  return a.start_minute < b.start_minute ||
         (a.start_minute == b.start_minute && a.end_minute < b.end_minute);
}

Expected<std::vector<Window>, Rejection> parse_override_windows(const json::Value& arr,
                                                                const std::string& where) {
  if (!arr.IsArray()) return unexpected(invalid(where + ": expected an array"));
  if (arr.Size() > kMaxWindows)
    return unexpected(invalid(where + ": at most " + std::to_string(kMaxWindows) + " windows"));
  std::vector<Window> out;
  for (rapidjson::SizeType i = 0; i < arr.Size(); ++i) {
    auto w = parse_window(arr[i], where + "[" + std::to_string(i) + "]");
    if (!w) return unexpected(w.error());
    out.push_back(*w);
  }
  std::sort(out.begin(), out.end(), by_start);
  if (auto overlap = find_overlap(out))
    return unexpected(invalid(where + ": windows overlap (" + *overlap + ")"));
  return out;
}

Expected<int, Rejection> parse_bounded_int(const json::Value& obj, const char* key, int max) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return 0;
  if (!it->value.IsInt64() || it->value.GetInt64() < 0 || it->value.GetInt64() > max)
    return unexpected(
        invalid(std::string(key) + ": expected an integer between 0 and " + std::to_string(max)));
  return static_cast<int>(it->value.GetInt64());
}

// The local windows of one date: the override's if there is one, else the weekly ones.
std::vector<Window> local_windows(const Availability& a, std::chrono::year_month_day date) {
  // A linear scan (at most kMaxOverrides) also works for hand-built, unsorted values.
  auto ov = std::find_if(a.overrides.begin(), a.overrides.end(),
                         [&](const DateOverride& o) { return o.date == date; });
  if (ov != a.overrides.end()) return ov->unavailable ? std::vector<Window>{} : ov->windows;
  std::chrono::weekday wd{std::chrono::sys_days{date}};
  std::vector<Window> out;
  for (auto& w : a.weekly)
    if (w.day == wd) out.push_back(w.window);
  return out;
}

// Earliest instant for an ambiguous local time; the transition instant for one in a gap.
Timestamp to_instant(const date::time_zone* tz, date::local_days day, int minute) {
  LocalMinutes local = day + minutes{minute};
  return std::chrono::time_point_cast<std::chrono::milliseconds>(
      tz->to_sys(local, date::choose::earliest));
}

std::vector<Interval> utc_windows(const Availability& a, const date::time_zone* tz,
                                  date::local_days day) {
  std::vector<Interval> out;
  for (auto& w : local_windows(a, to_ymd(day))) {
    Interval i{to_instant(tz, day, w.start_minute), to_instant(tz, day, w.end_minute)};
    if (i.start < i.end) out.push_back(i);  // a window wholly inside a DST gap has no instants
  }
  return out;
}

date::local_days local_day_of(const date::time_zone* tz, Timestamp t) {
  return date::floor<date::days>(tz->to_local(t));
}

bool inside_availability(const Availability& a, const date::time_zone* tz, Interval wanted) {
  auto day = local_day_of(tz, wanted.start);
  // A window belongs to one local date; DST shifts can put its instants next to a
  // neighbouring date's, so look one day either side.
  for (int delta = -1; delta <= 1; ++delta) {
    for (auto& w : utc_windows(a, tz, day + date::days{delta}))
      if (w.start <= wanted.start && wanted.end <= w.end) return true;
  }
  return false;
}

bool gap_too_small(Interval a, Interval b, std::chrono::minutes buffer) {
  return a.start < b.end + buffer && b.start < a.end + buffer;
}

template <class ConflictFn>
SlotProblem check(const Availability& a, const date::time_zone* tz, Interval wanted, Timestamp now,
                  ConflictFn&& conflicts) {
  if (wanted.start < now) return SlotProblem::in_past;
  if (wanted.start < now + minutes{a.min_notice_minutes}) return SlotProblem::too_soon;
  if (!tz || !(wanted.start < wanted.end) || !inside_availability(a, tz, wanted))
    return SlotProblem::outside_availability;
  if (conflicts(wanted)) return SlotProblem::overlaps;
  return SlotProblem::none;
}

}  // namespace

std::optional<std::chrono::weekday> parse_day(std::string_view s) {
  static constexpr const char* names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  for (unsigned i = 0; i < 7; ++i)
    if (s == names[i]) return std::chrono::weekday{(i + 1) % 7};
  return std::nullopt;
}

const char* day_name(std::chrono::weekday d) {
  static constexpr const char* names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  return names[day_index(d)];
}

std::string format_hhmm(int m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d:%02d", (m / 60) % 100, m % 60);
  return buf;
}

const char* to_string(SlotProblem p) {
  switch (p) {
    case SlotProblem::none:
      return "none";
    case SlotProblem::in_past:
      return "in_past";
    case SlotProblem::too_soon:
      return "too_soon";
    case SlotProblem::outside_availability:
      return "outside_availability";
    case SlotProblem::overlaps:
      return "overlaps";
  }
  return "none";
}

Expected<Availability, Rejection> parse_availability(const json::Value& obj) {
  if (!obj.IsObject()) return unexpected(invalid("availability: expected a JSON object"));
  Availability a;

  auto zone = json::get_string(obj, "time_zone");
  if (!zone) return unexpected(invalid("time_zone: expected an IANA time zone name"));
  if (!find_zone(*zone))
    return unexpected(invalid("time_zone: unknown IANA time zone \"" +
                              std::string(zone->substr(0, kMaxTimeZoneLength)) + "\""));
  a.time_zone = std::string(*zone);

  auto* weekly = json::get_array(obj, "weekly");
  if (!weekly) return unexpected(invalid("weekly: expected an array of {day, start, end}"));
  if (weekly->Size() > kMaxWindows)
    return unexpected(invalid("weekly: at most " + std::to_string(kMaxWindows) + " windows"));
  for (rapidjson::SizeType i = 0; i < weekly->Size(); ++i) {
    std::string where = "weekly[" + std::to_string(i) + "]";
    const auto& item = (*weekly)[i];
    auto day_text = json::get_string(item, "day");
    auto day = day_text ? parse_day(*day_text) : std::nullopt;
    if (!day)
      return unexpected(invalid(where + ".day: expected one of mon, tue, wed, thu, fri, sat, sun"));
    auto w = parse_window(item, where);
    if (!w) return unexpected(w.error());
    a.weekly.push_back(WeeklyWindow{*day, *w});
  }
  std::sort(a.weekly.begin(), a.weekly.end(), [](const WeeklyWindow& x, const WeeklyWindow& y) {
    if (x.day != y.day) return day_index(x.day) < day_index(y.day);
    return by_start(x.window, y.window);
  });
  for (size_t i = 1; i < a.weekly.size(); ++i) {
    auto& prev = a.weekly[i - 1];
    auto& cur = a.weekly[i];
    if (prev.day == cur.day && cur.window.start_minute < prev.window.end_minute)
      return unexpected(invalid("weekly: windows on " + std::string(day_name(cur.day)) +
                                " overlap (" + format_hhmm(prev.window.start_minute) + "-" +
                                format_hhmm(prev.window.end_minute) + " and " +
                                format_hhmm(cur.window.start_minute) + "-" +
                                format_hhmm(cur.window.end_minute) + ")"));
  }

  auto buffer = parse_bounded_int(obj, "buffer_minutes", kMaxBufferMinutes);
  if (!buffer) return unexpected(buffer.error());
  a.buffer_minutes = *buffer;
  auto notice = parse_bounded_int(obj, "min_notice_minutes", kMaxMinNoticeMinutes);
  if (!notice) return unexpected(notice.error());
  a.min_notice_minutes = *notice;

  if (auto it = obj.FindMember("overrides"); it != obj.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsArray())
      return unexpected(invalid("overrides: expected an array of {date, unavailable, windows}"));
    const auto& arr = it->value;
    if (arr.Size() > kMaxOverrides)
      return unexpected(invalid("overrides: at most " + std::to_string(kMaxOverrides) + " dates"));
    for (rapidjson::SizeType i = 0; i < arr.Size(); ++i) {
      std::string where = "overrides[" + std::to_string(i) + "]";
      const auto& item = arr[i];
      if (!item.IsObject()) return unexpected(invalid(where + ": expected an object"));
      auto date_text = json::get_string(item, "date");
      auto date = date_text ? parse_date(*date_text) : std::nullopt;
      if (!date) return unexpected(invalid(where + ".date: expected a date \"YYYY-MM-DD\""));
      DateOverride o{*date, false, {}};
      if (auto u = item.FindMember("unavailable"); u != item.MemberEnd() && !u->value.IsNull()) {
        if (!u->value.IsBool())
          return unexpected(invalid(where + ".unavailable: expected true or false"));
        o.unavailable = u->value.GetBool();
      }
      if (auto ws = item.FindMember("windows"); ws != item.MemberEnd() && !ws->value.IsNull()) {
        auto windows = parse_override_windows(ws->value, where + ".windows");
        if (!windows) return unexpected(windows.error());
        o.windows = std::move(*windows);
      }
      if (o.unavailable && !o.windows.empty())
        return unexpected(invalid(where + ": an unavailable date cannot have windows"));
      if (!o.unavailable && o.windows.empty())
        return unexpected(invalid(where + ": give windows, or set unavailable to true"));
      a.overrides.push_back(std::move(o));
    }
    std::sort(a.overrides.begin(), a.overrides.end(),
              [](const DateOverride& x, const DateOverride& y) { return x.date < y.date; });
    for (size_t i = 1; i < a.overrides.size(); ++i)
      if (a.overrides[i].date == a.overrides[i - 1].date)
        return unexpected(invalid("overrides: date " + format_date(a.overrides[i].date) +
                                  " appears more than once"));
  }
  return a;
}

void write_availability_members(json::Writer& w, const Availability& a) {
  // Keys in lexicographic order so the output is canonical without a re-sort.
  auto write_window = [&](const Window& win) {
    json::key(w, "end");
    json::write_string(w, format_hhmm(win.end_minute));
    json::key(w, "start");
    json::write_string(w, format_hhmm(win.start_minute));
  };
  json::key(w, "buffer_minutes");
  w.Int(a.buffer_minutes);
  json::key(w, "min_notice_minutes");
  w.Int(a.min_notice_minutes);
  json::key(w, "overrides");
  w.StartArray();
  for (auto& o : a.overrides) {
    w.StartObject();
    json::key(w, "date");
    json::write_string(w, format_date(o.date));
    json::key(w, "unavailable");
    w.Bool(o.unavailable);
    json::key(w, "windows");
    w.StartArray();
    for (auto& win : o.windows) {
      w.StartObject();
      write_window(win);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  json::key(w, "time_zone");
  json::write_string(w, a.time_zone);
  json::key(w, "weekly");
  w.StartArray();
  for (auto& ww : a.weekly) {
    w.StartObject();
    json::key(w, "day");
    json::write_string(w, day_name(ww.day));
    write_window(ww.window);
    w.EndObject();
  }
  w.EndArray();
}

std::string availability_to_json(const Availability& a) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  write_availability_members(w, a);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

BusyIndex::BusyIndex(const std::vector<Interval>& intervals) {
  for (auto& i : intervals) add(i);
}

void BusyIndex::add(Interval i) {
  by_start_.emplace(i.start, i.end);
  longest_ = std::max(longest_, std::chrono::milliseconds{i.end - i.start});
}

bool BusyIndex::remove(Interval i) {
  auto [lo, hi] = by_start_.equal_range(i.start);
  for (auto it = lo; it != hi; ++it) {
    if (it->second == i.end) {
      by_start_.erase(it);
      return true;
    }
  }
  return false;
}

bool BusyIndex::conflicts(Interval wanted, std::chrono::minutes buffer) const {
  // Candidates start before wanted.end + buffer; only those starting after
  // wanted.start - buffer - longest can still reach wanted.start - buffer.
  auto it = by_start_.lower_bound(wanted.end + buffer);
  const Timestamp earliest_relevant = wanted.start - buffer - longest_;
  while (it != by_start_.begin()) {
    --it;
    if (it->first < earliest_relevant) break;
    if (gap_too_small(Interval{it->first, it->second}, wanted, buffer)) return true;
  }
  return false;
}

std::vector<Interval> BusyIndex::between(Timestamp from, Timestamp to) const {
  std::vector<Interval> out;
  auto it = by_start_.lower_bound(from - longest_);
  for (; it != by_start_.end() && it->first < to; ++it)
    if (it->second > from) out.push_back(Interval{it->first, it->second});
  return out;
}

SlotProblem check_slot(const Availability& a, const std::vector<Interval>& busy, Interval wanted,
                       Timestamp now) {
  const minutes buffer{a.buffer_minutes};
  return check(a, find_zone(a.time_zone), wanted, now, [&](Interval w) {
    return std::any_of(busy.begin(), busy.end(),
                       [&](const Interval& b) { return gap_too_small(b, w, buffer); });
  });
}

SlotProblem check_slot(const Availability& a, const BusyIndex& busy, Interval wanted,
                       Timestamp now) {
  const minutes buffer{a.buffer_minutes};
  return check(a, find_zone(a.time_zone), wanted, now,
               [&](Interval w) { return busy.conflicts(w, buffer); });
}

std::vector<Interval> windows_on(const Availability& a, std::chrono::year_month_day local_date) {
  auto* tz = find_zone(a.time_zone);
  if (!tz || !local_date.ok()) return {};
  return utc_windows(a, tz, to_local_days(local_date));
}

std::vector<Interval> free_slots(const Availability& a, const std::vector<Interval>& busy,
                                 Timestamp from, Timestamp to, std::chrono::minutes duration,
                                 Timestamp now, std::chrono::minutes step) {
  std::vector<Interval> out;
  auto* tz = find_zone(a.time_zone);
  if (!tz || duration <= minutes{0} || step <= minutes{0} || !(from < to)) return out;
  const BusyIndex index(busy);
  const minutes buffer{a.buffer_minutes};
  const auto first_day = local_day_of(tz, from) - date::days{1};
  auto last_day = local_day_of(tz, to) + date::days{1};
  last_day = std::min(last_day, first_day + date::days{kMaxDaysScanned});

  for (auto day = first_day; day <= last_day && out.size() < kMaxSlots; day += date::days{1}) {
    for (auto& w : local_windows(a, to_ymd(day))) {
      const Timestamp window_end = to_instant(tz, day, w.end_minute);
      for (int m = w.start_minute; m < w.end_minute; m += static_cast<int>(step.count())) {
        LocalMinutes local = day + minutes{m};
        auto info = tz->get_info(local);
        if (info.result == date::local_info::nonexistent) continue;  // skipped by the clocks
        Timestamp start = to_instant(tz, day, m);
        Interval slot{start, start + duration};
        if (slot.end > window_end) break;
        if (start < from || !(start < to)) continue;
        if (check(a, tz, slot, now, [&](Interval x) { return index.conflicts(x, buffer); }) ==
            SlotProblem::none)
          out.push_back(slot);
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const Interval& x, const Interval& y) {
    return x.start < y.start || (x.start == y.start && x.end < y.end);
  });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.size() > kMaxSlots) out.resize(kMaxSlots);
  return out;
}

}  // namespace counsel::calendar
