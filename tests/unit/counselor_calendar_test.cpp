#include "domain/counselor_calendar.hpp"

#include <boost/test/unit_test.hpp>

#include <random>

#include "domain_test_support.hpp"

using namespace counsel;
using namespace counsel::calendar;
using counsel::test::at;
using counsel::test::doc;
using std::chrono::minutes;

namespace {

Availability parse_ok(std::string_view text) {
  auto d = doc(text);
  auto a = parse_availability(d);
  BOOST_REQUIRE_MESSAGE(a.has_value(), "unexpected rejection: " << (a ? "" : a.error().message));
  return *a;
}

Rejection parse_fails(std::string_view text) {
  auto d = doc(text);
  auto a = parse_availability(d);
  BOOST_REQUIRE_MESSAGE(!a.has_value(), "expected a rejection for " << text);
  BOOST_TEST(a.error().code == "invalid_availability");
  BOOST_TEST((a.error().kind == RejectionKind::invalid));
  return a.error();
}

// Monday 2026-03-02 09:00-17:00 in Johannesburg (UTC+2 all year).
const char* kJohannesburg =
    R"({"time_zone":"Africa/Johannesburg","weekly":[{"day":"mon","start":"09:00","end":"17:00"}]})";

Interval span(std::string_view start, std::string_view end) {
  return Interval{at(start), at(end)};
}

const Timestamp kLongAgo = at("2026-01-01T00:00:00Z");

}  // namespace

BOOST_AUTO_TEST_SUITE(counselor_calendar_test)

BOOST_AUTO_TEST_CASE(parses_and_normalizes_availability) {
  auto a = parse_ok(R"({"time_zone":"Africa/Johannesburg",
      "weekly":[{"day":"wed","start":"13:00","end":"17:00"},{"day":"mon","start":"09:00","end":"12:00"},
                {"day":"wed","start":"08:00","end":"12:00"},{"day":"sun","start":"20:00","end":"24:00"}],
      "buffer_minutes":15,"min_notice_minutes":120,
      "overrides":[{"date":"2026-04-03","unavailable":true},
                   {"date":"2026-04-01","unavailable":false,"windows":[{"start":"10:00","end":"11:00"}]}]})");
  BOOST_TEST(a.time_zone == "Africa/Johannesburg");
  BOOST_TEST(a.buffer_minutes == 15);
  BOOST_TEST(a.min_notice_minutes == 120);
  BOOST_REQUIRE(a.weekly.size() == 4u);
  BOOST_TEST(std::string(day_name(a.weekly[0].day)) == "mon");
  BOOST_TEST(std::string(day_name(a.weekly[1].day)) == "wed");
  BOOST_TEST(a.weekly[1].window.start_minute == 8 * 60);
  BOOST_TEST(a.weekly[2].window.start_minute == 13 * 60);
  BOOST_TEST(std::string(day_name(a.weekly[3].day)) == "sun");
  BOOST_TEST(a.weekly[3].window.end_minute == 1440);
  BOOST_REQUIRE(a.overrides.size() == 2u);
  BOOST_TEST(format_date(a.overrides[0].date) == "2026-04-01");
  BOOST_TEST(a.overrides[1].unavailable);

  // The JSON form is canonical and parses back to the same value.
  auto text = availability_to_json(a);
  auto d = doc(text);
  BOOST_TEST(text == json::canonical(d));
  BOOST_TEST((parse_ok(text) == a));
  BOOST_TEST(text.find(R"("end":"24:00")") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(defaults_and_ignores_unknown_members) {
  auto a = parse_ok(R"({"counselor_id":"x","time_zone":"UTC","weekly":[],"overrides":null})");
  BOOST_TEST(a.buffer_minutes == 0);
  BOOST_TEST(a.min_notice_minutes == 0);
  BOOST_TEST(a.overrides.empty());
}

BOOST_AUTO_TEST_CASE(rejects_bad_availability_naming_the_field) {
  auto has = [](const Rejection& r, std::string_view what) {
    BOOST_TEST_INFO("message: " << r.message);
    BOOST_TEST(r.message.find(what) != std::string::npos);
  };
  has(parse_fails(R"({"time_zone":"Mars/Olympus","weekly":[]})"), "time_zone");
  has(parse_fails(R"({"time_zone":"","weekly":[]})"), "time_zone");
  has(parse_fails(R"({"weekly":[]})"), "time_zone");
  has(parse_fails(R"({"time_zone":"UTC"})"), "weekly");
  has(parse_fails(
          R"({"time_zone":"UTC","weekly":[{"day":"monday","start":"09:00","end":"10:00"}]})"),
      "weekly[0].day");
  has(parse_fails(R"({"time_zone":"UTC","weekly":[{"day":"mon","start":"9:00","end":"10:00"}]})"),
      "weekly[0].start");
  has(parse_fails(R"({"time_zone":"UTC","weekly":[{"day":"mon","start":"09:00","end":"10:60"}]})"),
      "weekly[0].end");
  has(parse_fails(R"({"time_zone":"UTC","weekly":[{"day":"mon","start":"24:00","end":"24:00"}]})"),
      "weekly[0].start");
  has(parse_fails(R"({"time_zone":"UTC","weekly":[{"day":"mon","start":"09:00","end":"24:01"}]})"),
      "weekly[0].end");
  has(parse_fails(R"({"time_zone":"UTC","weekly":[{"day":"mon","start":"10:00","end":"10:00"}]})"),
      "start must be before end");
  has(parse_fails(R"({"time_zone":"UTC","weekly":[{"day":"mon","start":"11:00","end":"10:00"}]})"),
      "weekly[0]");
  has(parse_fails(R"({"time_zone":"UTC","weekly":[{"day":"tue","start":"09:00","end":"12:00"},
                                                   {"day":"tue","start":"11:00","end":"13:00"}]})"),
      "overlap");
  has(parse_fails(R"({"time_zone":"UTC","weekly":[],"buffer_minutes":241})"), "buffer_minutes");
  has(parse_fails(R"({"time_zone":"UTC","weekly":[],"buffer_minutes":-1})"), "buffer_minutes");
  has(parse_fails(R"({"time_zone":"UTC","weekly":[],"buffer_minutes":"15"})"), "buffer_minutes");
  has(parse_fails(R"({"time_zone":"UTC","weekly":[],"min_notice_minutes":43201})"),
      "min_notice_minutes");
  has(parse_fails(
          R"({"time_zone":"UTC","weekly":[],"overrides":[{"date":"2026-02-30","unavailable":true}]})"),
      "overrides[0].date");
  has(parse_fails(
          R"({"time_zone":"UTC","weekly":[],"overrides":[{"date":"2026-02-03","unavailable":"yes"}]})"),
      "overrides[0].unavailable");
  has(parse_fails(
          R"({"time_zone":"UTC","weekly":[],"overrides":[{"date":"2026-02-03","unavailable":false}]})"),
      "overrides[0]");
  has(parse_fails(
          R"({"time_zone":"UTC","weekly":[],"overrides":[{"date":"2026-02-03","unavailable":true,
                       "windows":[{"start":"09:00","end":"10:00"}]}]})"),
      "overrides[0]");
  has(parse_fails(R"({"time_zone":"UTC","weekly":[],"overrides":[{"date":"2026-02-03",
                       "windows":[{"start":"09:00","end":"10:00"},{"start":"09:30","end":"10:30"}]}]})"),
      "overrides[0].windows");
  has(parse_fails(
          R"({"time_zone":"UTC","weekly":[],"overrides":[{"date":"2026-02-03","unavailable":true},
                                                                  {"date":"2026-02-03","unavailable":true}]})"),
      "2026-02-03");

  std::string many = R"({"time_zone":"UTC","weekly":[)";
  for (int i = 0; i < 51; ++i)
    many += std::string(i ? "," : "") + R"({"day":"mon","start":")" + format_hhmm(i * 20) +
            R"(","end":")" + format_hhmm(i * 20 + 10) + R"("})";
  has(parse_fails(many + "]}"), "weekly");

  std::string dates = R"({"time_zone":"UTC","weekly":[],"overrides":[)";
  auto day = std::chrono::sys_days{std::chrono::year{2026} / 1 / 1};
  for (int i = 0; i < 401; ++i)
    dates += std::string(i ? "," : "") + R"({"date":")" +
             format_date(std::chrono::year_month_day{day + std::chrono::days{i}}) +
             R"(","unavailable":true})";
  has(parse_fails(dates + "]}"), "overrides");

  BOOST_TEST(!parse_availability(doc("[]")).has_value());
}

BOOST_AUTO_TEST_CASE(fifty_windows_and_four_hundred_overrides_are_allowed) {
  std::string text = R"({"time_zone":"UTC","weekly":[)";
  for (int i = 0; i < 50; ++i)
    text += std::string(i ? "," : "") + R"({"day":"mon","start":")" + format_hhmm(i * 20) +
            R"(","end":")" + format_hhmm(i * 20 + 10) + R"("})";
  text += R"(],"overrides":[)";
  auto day = std::chrono::sys_days{std::chrono::year{2026} / 1 / 1};
  for (int i = 0; i < 400; ++i)
    text += std::string(i ? "," : "") + R"({"date":")" +
            format_date(std::chrono::year_month_day{day + std::chrono::days{i}}) +
            R"(","unavailable":true})";
  auto a = parse_ok(text + "]}");
  BOOST_TEST(a.weekly.size() == 50u);
  BOOST_TEST(a.overrides.size() == 400u);
}

BOOST_AUTO_TEST_CASE(johannesburg_weekly_window) {
  auto a = parse_ok(kJohannesburg);
  const std::vector<Interval> none;
  // 09:00-10:00 SAST = 07:00-08:00Z on Monday 2026-03-02.
  BOOST_TEST((check_slot(a, none, span("2026-03-02T07:00:00Z", "2026-03-02T08:00:00Z"), kLongAgo) ==
              SlotProblem::none));
  // Ends exactly at 17:00 local.
  BOOST_TEST((check_slot(a, none, span("2026-03-02T14:00:00Z", "2026-03-02T15:00:00Z"), kLongAgo) ==
              SlotProblem::none));
  // Starts before 09:00 local.
  BOOST_TEST((check_slot(a, none, span("2026-03-02T06:30:00Z", "2026-03-02T07:30:00Z"), kLongAgo) ==
              SlotProblem::outside_availability));
  // Runs past 17:00 local.
  BOOST_TEST((check_slot(a, none, span("2026-03-02T14:30:00Z", "2026-03-02T15:30:00Z"), kLongAgo) ==
              SlotProblem::outside_availability));
  // Tuesday has no window.
  BOOST_TEST((check_slot(a, none, span("2026-03-03T07:00:00Z", "2026-03-03T08:00:00Z"), kLongAgo) ==
              SlotProblem::outside_availability));
  // Next Monday again.
  BOOST_TEST((check_slot(a, none, span("2026-03-09T12:00:00Z", "2026-03-09T13:00:00Z"), kLongAgo) ==
              SlotProblem::none));
  auto windows = windows_on(a, std::chrono::year{2026} / 3 / 2);
  BOOST_REQUIRE(windows.size() == 1u);
  BOOST_TEST((windows[0] == span("2026-03-02T07:00:00Z", "2026-03-02T15:00:00Z")));
}

BOOST_AUTO_TEST_CASE(no_availability_means_nothing_is_bookable) {
  Availability empty;
  const std::vector<Interval> none;
  BOOST_TEST((check_slot(empty, none, span("2026-03-02T07:00:00Z", "2026-03-02T08:00:00Z"),
                         kLongAgo) == SlotProblem::outside_availability));
  BOOST_TEST(free_slots(empty, none, at("2026-03-01T00:00:00Z"), at("2026-03-08T00:00:00Z"),
                        minutes{60}, kLongAgo)
                 .empty());
  auto no_windows = parse_ok(R"({"time_zone":"UTC","weekly":[]})");
  BOOST_TEST((check_slot(no_windows, none, span("2026-03-02T07:00:00Z", "2026-03-02T08:00:00Z"),
                         kLongAgo) == SlotProblem::outside_availability));
}

BOOST_AUTO_TEST_CASE(windows_do_not_chain_across_midnight) {
  auto a = parse_ok(R"({"time_zone":"UTC","weekly":[{"day":"mon","start":"22:00","end":"24:00"},
                                                     {"day":"tue","start":"00:00","end":"02:00"},
                                                     {"day":"tue","start":"02:00","end":"04:00"}]})");
  const std::vector<Interval> none;
  BOOST_TEST((check_slot(a, none, span("2026-03-02T23:00:00Z", "2026-03-03T00:00:00Z"), kLongAgo) ==
              SlotProblem::none));
  BOOST_TEST((check_slot(a, none, span("2026-03-02T23:30:00Z", "2026-03-03T00:30:00Z"), kLongAgo) ==
              SlotProblem::outside_availability));
  // Touching windows on the same day do not chain either.
  BOOST_TEST((check_slot(a, none, span("2026-03-03T01:30:00Z", "2026-03-03T02:30:00Z"), kLongAgo) ==
              SlotProblem::outside_availability));
}

BOOST_AUTO_TEST_CASE(london_spring_forward_gap) {
  // 2026-03-29 (Sunday): 01:00 GMT jumps to 02:00 BST; local 01:00-02:00 does not exist.
  auto a = parse_ok(
      R"({"time_zone":"Europe/London","weekly":[{"day":"sun","start":"00:00","end":"03:00"},
                                                               {"day":"mon","start":"09:00","end":"17:00"}]})");
  auto windows = windows_on(a, std::chrono::year{2026} / 3 / 29);
  BOOST_REQUIRE(windows.size() == 1u);
  // Three wall-clock hours, two real ones.
  BOOST_TEST((windows[0] == span("2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z")));

  auto slots = free_slots(a, {}, at("2026-03-29T00:00:00Z"), at("2026-03-30T00:00:00Z"),
                          minutes{60}, kLongAgo);
  // Local 00:00, 00:30 (GMT) then 02:00 BST; 01:00 and 01:30 local are skipped; 02:30 BST
  // would end after 03:00 BST.
  BOOST_REQUIRE(slots.size() == 3u);
  BOOST_TEST((slots[0] == span("2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z")));
  BOOST_TEST((slots[1] == span("2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z")));
  BOOST_TEST((slots[2] == span("2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z")));

  // Monday 09:00 local is 09:00Z before the change and 08:00Z after it.
  const std::vector<Interval> none;
  BOOST_TEST((check_slot(a, none, span("2026-03-23T09:00:00Z", "2026-03-23T10:00:00Z"), kLongAgo) ==
              SlotProblem::none));
  BOOST_TEST((check_slot(a, none, span("2026-03-23T08:00:00Z", "2026-03-23T09:00:00Z"), kLongAgo) ==
              SlotProblem::outside_availability));
  BOOST_TEST((check_slot(a, none, span("2026-03-30T08:00:00Z", "2026-03-30T09:00:00Z"), kLongAgo) ==
              SlotProblem::none));
  BOOST_TEST((check_slot(a, none, span("2026-03-30T15:30:00Z", "2026-03-30T16:30:00Z"), kLongAgo) ==
              SlotProblem::outside_availability));

  auto monday = free_slots(a, {}, at("2026-03-30T00:00:00Z"), at("2026-03-31T00:00:00Z"),
                           minutes{60}, kLongAgo, minutes{60});
  BOOST_REQUIRE(monday.size() == 8u);
  BOOST_TEST((monday.front().start == at("2026-03-30T08:00:00Z")));
  BOOST_TEST((monday.back().end == at("2026-03-30T16:00:00Z")));
}

BOOST_AUTO_TEST_CASE(london_fall_back_ambiguous_hour_uses_earliest) {
  // 2026-10-25 (Sunday): 02:00 BST falls back to 01:00 GMT; local 01:00-02:00 happens twice.
  auto a = parse_ok(
      R"({"time_zone":"Europe/London","weekly":[{"day":"sun","start":"01:00","end":"03:00"}]})");
  auto windows = windows_on(a, std::chrono::year{2026} / 10 / 25);
  BOOST_REQUIRE(windows.size() == 1u);
  // From the first 01:00 (BST, 00:00Z) to 03:00 GMT: three real hours.
  BOOST_TEST((windows[0] == span("2026-10-25T00:00:00Z", "2026-10-25T03:00:00Z")));
  const std::vector<Interval> none;
  // The second 01:00 (GMT) is inside the window too.
  BOOST_TEST((check_slot(a, none, span("2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"), kLongAgo) ==
              SlotProblem::none));
  auto slots = free_slots(a, {}, at("2026-10-25T00:00:00Z"), at("2026-10-26T00:00:00Z"),
                          minutes{60}, kLongAgo, minutes{60});
  BOOST_REQUIRE(slots.size() == 2u);
  BOOST_TEST((slots[0].start == at("2026-10-25T00:00:00Z")));  // local 01:00, earliest
  BOOST_TEST((slots[1].start == at("2026-10-25T02:00:00Z")));  // local 02:00 GMT
}

BOOST_AUTO_TEST_CASE(date_overrides_replace_or_remove_a_day) {
  auto a = parse_ok(R"({"time_zone":"Africa/Johannesburg",
      "weekly":[{"day":"mon","start":"09:00","end":"17:00"}],
      "overrides":[{"date":"2026-03-09","unavailable":true},
                   {"date":"2026-03-16","unavailable":false,"windows":[{"start":"13:00","end":"14:00"}]},
                   {"date":"2026-03-14","unavailable":false,"windows":[{"start":"10:00","end":"12:00"}]}]})");
  const std::vector<Interval> none;
  // Unavailable Monday.
  BOOST_TEST((check_slot(a, none, span("2026-03-09T07:00:00Z", "2026-03-09T08:00:00Z"), kLongAgo) ==
              SlotProblem::outside_availability));
  // Replaced Monday: only 13:00-14:00 local.
  BOOST_TEST((check_slot(a, none, span("2026-03-16T07:00:00Z", "2026-03-16T08:00:00Z"), kLongAgo) ==
              SlotProblem::outside_availability));
  BOOST_TEST((check_slot(a, none, span("2026-03-16T11:00:00Z", "2026-03-16T12:00:00Z"), kLongAgo) ==
              SlotProblem::none));
  // An extra Saturday.
  BOOST_TEST((check_slot(a, none, span("2026-03-14T08:00:00Z", "2026-03-14T09:00:00Z"), kLongAgo) ==
              SlotProblem::none));
  // Other Mondays keep the weekly window.
  BOOST_TEST((check_slot(a, none, span("2026-03-23T07:00:00Z", "2026-03-23T08:00:00Z"), kLongAgo) ==
              SlotProblem::none));
  BOOST_TEST(windows_on(a, std::chrono::year{2026} / 3 / 9).empty());
}

BOOST_AUTO_TEST_CASE(buffer_separates_sessions) {
  auto a = parse_ok(R"({"time_zone":"Africa/Johannesburg","buffer_minutes":15,
      "weekly":[{"day":"mon","start":"08:00","end":"17:00"}]})");
  // Busy 09:00-10:00 local.
  const std::vector<Interval> busy{span("2026-03-02T07:00:00Z", "2026-03-02T08:00:00Z")};
  const BusyIndex index(busy);
  auto both = [&](Interval wanted) {
    auto p = check_slot(a, busy, wanted, kLongAgo);
    BOOST_TEST((p == check_slot(a, index, wanted, kLongAgo)));
    return p;
  };
  BOOST_TEST((both(span("2026-03-02T07:30:00Z", "2026-03-02T08:30:00Z")) == SlotProblem::overlaps));
  BOOST_TEST((both(span("2026-03-02T08:00:00Z", "2026-03-02T09:00:00Z")) == SlotProblem::overlaps));
  BOOST_TEST((both(span("2026-03-02T08:14:00Z", "2026-03-02T09:14:00Z")) == SlotProblem::overlaps));
  BOOST_TEST((both(span("2026-03-02T08:15:00Z", "2026-03-02T09:15:00Z")) == SlotProblem::none));
  BOOST_TEST((both(span("2026-03-02T06:00:00Z", "2026-03-02T06:46:00Z")) == SlotProblem::overlaps));
  BOOST_TEST((both(span("2026-03-02T06:00:00Z", "2026-03-02T06:45:00Z")) == SlotProblem::none));

  auto no_buffer = a;
  no_buffer.buffer_minutes = 0;
  BOOST_TEST((check_slot(no_buffer, busy, span("2026-03-02T08:00:00Z", "2026-03-02T09:00:00Z"),
                         kLongAgo) == SlotProblem::none));
  BOOST_TEST((check_slot(no_buffer, busy, span("2026-03-02T06:00:00Z", "2026-03-02T07:00:00Z"),
                         kLongAgo) == SlotProblem::none));
}

BOOST_AUTO_TEST_CASE(past_and_minimum_notice) {
  auto a = parse_ok(R"({"time_zone":"Africa/Johannesburg","min_notice_minutes":120,
      "weekly":[{"day":"mon","start":"00:00","end":"24:00"}]})");
  const std::vector<Interval> none;
  const Timestamp now = at("2026-03-02T06:00:00Z");
  BOOST_TEST((check_slot(a, none, span("2026-03-02T05:59:00Z", "2026-03-02T06:59:00Z"), now) ==
              SlotProblem::in_past));
  BOOST_TEST((check_slot(a, none, span("2026-03-02T06:00:00Z", "2026-03-02T07:00:00Z"), now) ==
              SlotProblem::too_soon));
  BOOST_TEST((check_slot(a, none, span("2026-03-02T07:59:00Z", "2026-03-02T08:59:00Z"), now) ==
              SlotProblem::too_soon));
  BOOST_TEST((check_slot(a, none, span("2026-03-02T08:00:00Z", "2026-03-02T09:00:00Z"), now) ==
              SlotProblem::none));
  // In the past is reported before being outside availability.
  BOOST_TEST((check_slot(a, none, span("2026-03-01T05:00:00Z", "2026-03-01T06:00:00Z"), now) ==
              SlotProblem::in_past));
  // Too soon is reported before being outside availability.
  BOOST_TEST((check_slot(a, none, span("2026-03-02T22:30:00Z", "2026-03-02T23:30:00Z"),
                         at("2026-03-02T21:00:00Z")) == SlotProblem::too_soon));
}

BOOST_AUTO_TEST_CASE(free_slots_respect_busy_buffer_notice_and_range) {
  auto a = parse_ok(
      R"({"time_zone":"Africa/Johannesburg","weekly":[{"day":"mon","start":"09:00","end":"12:00"}]})");
  // Busy 10:00-11:00 local = 08:00-09:00Z.
  const std::vector<Interval> busy{span("2026-03-02T08:00:00Z", "2026-03-02T09:00:00Z")};
  auto slots = free_slots(a, busy, at("2026-03-02T00:00:00Z"), at("2026-03-03T00:00:00Z"),
                          minutes{60}, kLongAgo);
  BOOST_REQUIRE(slots.size() == 2u);
  BOOST_TEST((slots[0] == span("2026-03-02T07:00:00Z", "2026-03-02T08:00:00Z")));
  BOOST_TEST((slots[1] == span("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")));

  // Without the busy session: 09:00, 09:30, 10:00, 10:30, 11:00.
  auto all = free_slots(a, {}, at("2026-03-02T00:00:00Z"), at("2026-03-03T00:00:00Z"), minutes{60},
                        kLongAgo);
  BOOST_TEST(all.size() == 5u);
  BOOST_TEST(std::is_sorted(all.begin(), all.end(), [](const Interval& x, const Interval& y) {
    return x.start < y.start;
  }));

  // A 15-minute step and 45-minute sessions.
  auto fine = free_slots(a, {}, at("2026-03-02T00:00:00Z"), at("2026-03-03T00:00:00Z"), minutes{45},
                         kLongAgo, minutes{15});
  BOOST_TEST(fine.size() == 10u);  // 09:00 .. 11:15

  // Start must lie in [from, to).
  auto part = free_slots(a, {}, at("2026-03-02T07:30:00Z"), at("2026-03-02T08:30:00Z"), minutes{60},
                         kLongAgo);
  BOOST_REQUIRE(part.size() == 2u);
  BOOST_TEST((part[0].start == at("2026-03-02T07:30:00Z")));
  BOOST_TEST((part[1].start == at("2026-03-02T08:00:00Z")));

  // Min notice and "now" remove early slots.
  auto later = free_slots(a, {}, at("2026-03-02T00:00:00Z"), at("2026-03-03T00:00:00Z"),
                          minutes{60}, at("2026-03-02T07:10:00Z"));
  BOOST_REQUIRE(later.size() == 4u);
  BOOST_TEST((later[0].start == at("2026-03-02T07:30:00Z")));
  auto noticed = a;
  noticed.min_notice_minutes = 60;
  auto with_notice = free_slots(noticed, {}, at("2026-03-02T00:00:00Z"), at("2026-03-03T00:00:00Z"),
                                minutes{60}, at("2026-03-02T07:10:00Z"));
  BOOST_REQUIRE(with_notice.size() == 2u);
  BOOST_TEST((with_notice[0].start == at("2026-03-02T08:30:00Z")));

  // A 10-minute buffer around the busy session: 50-minute sessions fit only before and after.
  auto buffered = a;
  buffered.buffer_minutes = 10;
  auto b = free_slots(buffered, busy, at("2026-03-02T00:00:00Z"), at("2026-03-03T00:00:00Z"),
                      minutes{50}, kLongAgo, minutes{10});
  BOOST_REQUIRE(b.size() == 2u);
  BOOST_TEST((b[0] == span("2026-03-02T07:00:00Z", "2026-03-02T07:50:00Z")));
  BOOST_TEST((b[1] == span("2026-03-02T09:10:00Z", "2026-03-02T10:00:00Z")));

  // Several weeks: one Monday each.
  auto weeks = free_slots(a, {}, at("2026-03-01T00:00:00Z"), at("2026-03-29T00:00:00Z"),
                          minutes{180}, kLongAgo);
  BOOST_TEST(weeks.size() == 4u);

  // Degenerate arguments.
  BOOST_TEST(free_slots(a, {}, at("2026-03-03T00:00:00Z"), at("2026-03-02T00:00:00Z"), minutes{60},
                        kLongAgo)
                 .empty());
  BOOST_TEST(free_slots(a, {}, at("2026-03-02T00:00:00Z"), at("2026-03-03T00:00:00Z"), minutes{0},
                        kLongAgo)
                 .empty());
  BOOST_TEST(free_slots(a, {}, at("2026-03-02T00:00:00Z"), at("2026-03-03T00:00:00Z"), minutes{60},
                        kLongAgo, minutes{0})
                 .empty());
}

BOOST_AUTO_TEST_CASE(busy_index_agrees_with_a_linear_scan) {
  std::mt19937 rng(20260302);
  std::uniform_int_distribution<int> start_minute(0, 7 * 24 * 60);
  std::uniform_int_distribution<int> length(15, 240);
  const Timestamp base = at("2026-03-02T00:00:00Z");
  std::vector<Interval> busy;
  for (int i = 0; i < 300; ++i) {
    auto s = base + minutes{start_minute(rng)};
    busy.push_back(Interval{s, s + minutes{length(rng)}});
  }
  BusyIndex index(busy);
  BOOST_TEST(index.size() == busy.size());
  for (int buffer : {0, 10, 60}) {
    for (int i = 0; i < 2000; ++i) {
      auto s = base + minutes{start_minute(rng)};
      Interval wanted{s, s + minutes{length(rng)}};
      bool linear = std::any_of(busy.begin(), busy.end(), [&](const Interval& b) {
        return b.start < wanted.end + minutes{buffer} && wanted.start < b.end + minutes{buffer};
      });
      BOOST_TEST_REQUIRE(index.conflicts(wanted, minutes{buffer}) == linear);
    }
  }
  BOOST_TEST(index.remove(busy[7]));
  BOOST_TEST(!index.remove(Interval{busy[7].start, busy[7].start + minutes{1}}));
  BOOST_TEST(index.size() == busy.size() - 1);
  auto inside = index.between(base, base + std::chrono::hours{24});
  for (auto& i : inside) BOOST_TEST((i.end > base && i.start < base + std::chrono::hours{24}));
}

BOOST_AUTO_TEST_CASE(day_and_time_helpers) {
  BOOST_TEST((parse_day("mon") == std::chrono::Monday));
  BOOST_TEST((parse_day("sun") == std::chrono::Sunday));
  BOOST_TEST(!parse_day("Mon").has_value());
  BOOST_TEST(std::string(day_name(std::chrono::Saturday)) == "sat");
  BOOST_TEST(format_hhmm(0) == "00:00");
  BOOST_TEST(format_hhmm(1440) == "24:00");
  BOOST_TEST(format_hhmm(9 * 60 + 5) == "09:05");
  BOOST_TEST(std::string(to_string(SlotProblem::outside_availability)) == "outside_availability");
}

BOOST_AUTO_TEST_SUITE_END()
