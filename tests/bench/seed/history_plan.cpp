#include "tests/bench/seed/history_plan.hpp"

#include <date/tz.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "api/handler_support.hpp"

namespace counsel::bench {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// How the events after the sign-ups are shared out; sign-ins take what is left (at least a
// tenth), and also fill any rounding gap, so the total is exact.
constexpr double kSessionShare = 0.55;
constexpr double kChatShare = 0.28;
constexpr double kPatientShare = 0.07;
// A session's events at most: a sign-in, the booking, a counsellor's sign-in, a confirmation,
// the completion and a review.
constexpr int64_t kMaxSessionEvents = 6;

// Local dates in the counsellors' zone (which has had no daylight saving since 1944, but the
// calendar code does not rely on that and neither does this).
class LocalDates {
 public:
  LocalDates() : zone_(date::locate_zone(kTimeZone)) {}
  std::chrono::year_month_day of(Timestamp t) const {
    const auto local = date::floor<date::days>(zone_->to_local(t));
    return std::chrono::year_month_day{
        std::chrono::sys_days{days{local.time_since_epoch().count()}}};
  }

 private:
  const date::time_zone* zone_;
};

Timestamp ceil_to_hour(Timestamp t) {
  auto h = std::chrono::ceil<hours>(t);
  return std::chrono::time_point_cast<milliseconds>(h);
}

uint64_t hour_key(uint32_t who, Timestamp t) {
  return (static_cast<uint64_t>(who) << 32) |
         static_cast<uint32_t>(std::chrono::floor<hours>(t).time_since_epoch().count());
}

class Planner {
 public:
  Planner(const Population& people, const Timeline& timeline, SeedRandom& random)
      : people_(people),
        timeline_(timeline),
        random_(random),
        counselor_picker_(popularities(people)),
        client_picker_(activities(people)),
        primary_counselor_(people.clients.size(), kNone),
        client_sessions_(people.clients.size()) {
    for (const auto& c : people.counselors)
      first_bookable_ = std::min(first_bookable_, c.verified_at);
  }

  HistoryPlan run(int64_t total_events) {
    plan_onboarding();
    const int64_t rest = total_events - static_cast<int64_t>(plan_.actions.size());
    if (rest < 0)
      throw std::invalid_argument(
          "--events must be at least " + std::to_string(plan_.actions.size()) +
          " for this many counsellors and clients (their sign-ups alone take that many)");
    plan_sessions(static_cast<int64_t>(kSessionShare * static_cast<double>(rest)));
    plan_rooms(static_cast<int64_t>(kChatShare * static_cast<double>(rest)));
    plan_patients(static_cast<int64_t>(kPatientShare * static_cast<double>(rest)));
    plan_logins(total_events - static_cast<int64_t>(plan_.actions.size()));
    std::sort(plan_.actions.begin(), plan_.actions.end(), [](const Action& x, const Action& y) {
      return x.at != y.at ? x.at < y.at : x.order < y.order;
    });
    return std::move(plan_);
  }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;

  static std::vector<double> popularities(const Population& p) {
    std::vector<double> w;
    for (auto& c : p.counselors) w.push_back(c.popularity);
    return w;
  }
  static std::vector<double> activities(const Population& p) {
    std::vector<double> w;
    for (auto& k : p.clients) w.push_back(k.activity);
    return w;
  }

  // Adds the action if it happens before the loader started; says whether it did.
  bool add(Timestamp at, ActionKind kind, uint32_t a, uint32_t b = 0, uint8_t flag = 0) {
    if (at >= timeline_.now) return false;
    plan_.actions.push_back(Action{at, next_order_++, kind, flag, a, b});
    return true;
  }

  void plan_onboarding() {
    for (uint32_t i = 0; i < people_.counselors.size(); ++i) {
      const auto& c = people_.counselors[i];
      add(c.registered_at, ActionKind::register_counselor, i);
      add(c.profile_at, ActionKind::update_counselor_profile, i);
      add(c.availability_at, ActionKind::set_availability, i);
      add(c.verified_at, ActionKind::verify_counselor, i);
    }
    for (uint32_t i = 0; i < people_.clients.size(); ++i) {
      const auto& k = people_.clients[i];
      add(k.registered_at, ActionKind::register_client, i);
      if (k.profile_at) add(*k.profile_at, ActionKind::update_client_profile, i);
    }
  }

  // ---- sessions -------------------------------------------------------------------------

  void plan_sessions(int64_t budget) {
    const int64_t first = static_cast<int64_t>(plan_.actions.size());
    int failures = 0;
    while (static_cast<int64_t>(plan_.actions.size()) - first + kMaxSessionEvents <= budget &&
           failures < 10'000) {
      failures = plan_session() ? 0 : failures + 1;
    }
  }

  uint32_t bookable_counselor(Timestamp at) {
    for (int attempt = 0; attempt < 50; ++attempt) {
      auto c = static_cast<uint32_t>(counselor_picker_.pick(random_));
      if (people_.counselors[c].verified_at < at) return c;
    }
    return kNone;
  }

  // Clients mostly keep seeing the counsellor they started with.
  uint32_t counselor_for(uint32_t client, Timestamp at) {
    uint32_t& primary = primary_counselor_[client];
    if (primary == kNone) primary = bookable_counselor(at);
    if (primary != kNone && people_.counselors[primary].verified_at < at && random_.chance(0.8))
      return primary;
    return bookable_counselor(at);
  }

  // A free start on the hour inside the counsellor's availability, after their minimum notice,
  // mostly within the next few days, never reaching the cutoff.
  std::optional<Timestamp> free_start(uint32_t c, uint32_t client, Timestamp booked) {
    const auto& counselor = people_.counselors[c];
    const auto& a = counselor.availability;
    const Timestamp earliest = booked + minutes{a.min_notice_minutes};
    const auto length = minutes{counselor.session_minutes};
    const auto buffer = minutes{a.buffer_minutes};
    const double u = random_.unit();
    const auto lead = days{static_cast<int>(21 * u * u)};
    const auto first_day = std::chrono::sys_days{local_dates_.of(booked)} + lead;
    std::vector<Timestamp> candidates;
    for (int attempt = 0; attempt < 6 && candidates.empty(); ++attempt) {
      const std::chrono::year_month_day day{first_day + days{attempt}};
      for (const auto& window : calendar::windows_on(a, day)) {
        for (Timestamp h = ceil_to_hour(window.start); h + length <= window.end; h += hours{1}) {
          if (h < earliest || h + length + buffer > timeline_.cutoff) continue;
          if (counselor_busy_.contains(hour_key(c, h)) ||
              client_busy_.contains(hour_key(client, h)))
            continue;
          candidates.push_back(h);
        }
      }
    }
    if (candidates.empty()) return std::nullopt;
    return random_.pick(candidates);
  }

  bool plan_session() {
    const auto client = static_cast<uint32_t>(client_picker_.pick(random_));
    const auto& k = people_.clients[client];
    const Timestamp earliest = std::max(k.registered_at + minutes{10}, first_bookable_);
    if (earliest >= timeline_.now - hours{1}) return false;
    const Timestamp booked = random_.moment(earliest, timeline_.now - minutes{10});
    const uint32_t c = counselor_for(client, booked);
    if (c == kNone) return false;
    auto start = free_start(c, client, booked);
    if (!start) return false;
    counselor_busy_.insert(hour_key(c, *start));
    client_busy_.insert(hour_key(client, *start));

    const auto& counselor = people_.counselors[c];
    const auto s = static_cast<uint32_t>(plan_.sessions.size());
    PlannedSession session;
    session.id = SessionId{random_.uuid_v7_at(booked)};
    session.client = client;
    session.counselor = c;
    session.booked_at = booked;
    session.start = *start;
    session.minutes = counselor.session_minutes;
    const double m = random_.unit();
    session.mode = m < 0.5    ? counselor::SessionMode::video
                   : m < 0.85 ? counselor::SessionMode::chat
                              : counselor::SessionMode::in_person;
    plan_.sessions.push_back(session);
    client_sessions_[client].push_back(s);
    if (pair_index_.emplace((static_cast<uint64_t>(client) << 32) | c, s).second)
      pairs_.push_back(s);

    // Most people sign in shortly before they book.
    if (random_.chance(0.6)) {
      const Timestamp login = booked - random_.span(minutes{1}, minutes{20});
      if (login > k.registered_at) add(login, ActionKind::login, client);
    }
    add(booked, ActionKind::request_session, s);
    plan_lifecycle(s);
    return true;
  }

  // What became of the booking: declined, cancelled (by either side, perhaps late), or
  // confirmed and then completed (perhaps reviewed), a no-show, or never closed.
  void plan_lifecycle(uint32_t s) {
    auto& session = plan_.sessions[s];
    const Timestamp booked = session.booked_at, start = session.start;
    const Timestamp end = start + minutes{session.minutes};
    const auto lead = start - booked;
    auto before_start = [&](Timestamp from) { return random_.moment(from, start - minutes{5}); };
    const double fate = random_.unit();
    const bool past = start < timeline_.now;
    if (fate < 0.05) {
      add(booked + random_.span(minutes{10}, std::max<milliseconds>(minutes{10}, lead / 2)),
          ActionKind::decline_session, s);
      return;
    }
    if (fate < 0.14) {
      const bool by_counselor = fate >= 0.12;
      add(before_start(booked + minutes{1}), ActionKind::cancel_session, s, 0, by_counselor);
      return;
    }
    const Timestamp confirmed =
        booked +
        random_.span(minutes{5}, std::max<milliseconds>(
                                     minutes{5}, std::min<milliseconds>(hours{36}, lead * 6 / 10)));
    if (random_.chance(0.3)) {
      const Timestamp login = confirmed - random_.span(minutes{1}, minutes{30});
      if (login > people_.counselors[session.counselor].registered_at)
        add(login, ActionKind::login, session.counselor, 0, 1);
    }
    if (!add(confirmed, ActionKind::confirm_session, s) || !past) return;
    const double outcome = random_.unit();
    if (outcome < 0.04) {
      add(before_start(confirmed + minutes{1}), ActionKind::cancel_session, s, 0,
          random_.chance(0.3));
    } else if (outcome < 0.11) {
      add(start + random_.span(minutes{15}, hours{10}), ActionKind::mark_no_show, s);
    } else if (outcome < 0.97) {
      const Timestamp completed = end + random_.span(minutes{5}, hours{12});
      if (!add(completed, ActionKind::complete_session, s)) return;
      session.completed_at = completed;
      if (random_.chance(0.35)) {
        static const std::vector<double> kRatingWeights = {3, 5, 12, 30, 50};
        const auto rating = static_cast<uint32_t>(WeightedPicker(kRatingWeights).pick(random_) + 1);
        add(completed + random_.span(hours{1}, days{7}), ActionKind::submit_review, s, rating,
            random_.chance(0.6));
      }
    }
  }

  // ---- chat ---------------------------------------------------------------------------------

  struct Step {
    Timestamp at;
    uint32_t order;
    ActionKind kind;
    uint8_t flag;
    uint32_t local;  // message: its index in the room; read: the message read up to
  };

  void plan_rooms(int64_t budget) {
    std::vector<uint32_t> order = pairs_;
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[random_.index(i)]);
    int64_t used = 0;
    for (uint32_t s : order) {
      if (used >= budget) break;
      used += plan_room(s, budget - used);
    }
  }

  // Opens the pair's room some time after their first booking and fills it with a
  // conversation and read markers; returns the events added (at most `budget`).
  int64_t plan_room(uint32_t first_session, int64_t budget) {
    const PlannedSession& first = plan_.sessions[first_session];
    const Timestamp opened = first.booked_at + random_.span(minutes{1}, days{2});
    if (opened >= timeline_.now || budget <= 0) return 0;
    const bool by_client = random_.chance(0.7);
    std::vector<Step> steps;
    uint32_t order = 0;
    steps.push_back({opened, order++, ActionKind::open_room, 0, 0});

    std::vector<Timestamp> sent;
    std::vector<bool> from_counselor;
    // Conversations are mostly short, some long: about 15 messages on average.
    const double draw = std::max(random_.unit(), 1e-9);
    const int64_t wanted = std::min<int64_t>(1 + static_cast<int64_t>(-14.0 * std::log(draw)), 150);
    Timestamp t = opened;
    bool counselor_speaks = !by_client;
    for (int64_t i = 0; i < wanted; ++i) {
      t += random_.span(seconds{30}, hours{36});
      if (t >= timeline_.now) break;
      if (i > 0 && random_.chance(0.6)) counselor_speaks = !counselor_speaks;
      sent.push_back(t);
      from_counselor.push_back(counselor_speaks);
      steps.push_back({t, order++, ActionKind::send_message, counselor_speaks,
                       static_cast<uint32_t>(sent.size() - 1)});
    }
    // The other participant often reads soon after; a marker only ever moves forward.
    Timestamp last_read[2] = {opened, opened};
    int64_t last_marked[2] = {-1, -1};
    for (size_t i = 0; i < sent.size(); ++i) {
      if (!random_.chance(0.5)) continue;
      const int reader = from_counselor[i] ? 0 : 1;
      const Timestamp at = sent[i] + random_.span(minutes{1}, hours{8});
      if (at >= timeline_.now || at <= last_read[reader]) continue;
      const auto upto =
          static_cast<int64_t>(std::upper_bound(sent.begin(), sent.end(), at) - sent.begin()) - 1;
      if (upto <= last_marked[reader]) continue;
      last_read[reader] = at;
      last_marked[reader] = upto;
      steps.push_back({at, order++, ActionKind::mark_read, static_cast<uint8_t>(reader),
                       static_cast<uint32_t>(upto)});
    }
    std::sort(steps.begin(), steps.end(), [](const Step& x, const Step& y) {
      return x.at != y.at ? x.at < y.at : x.order < y.order;
    });
    // A prefix in time order keeps every read after the message it names.
    if (static_cast<int64_t>(steps.size()) > budget) steps.resize(static_cast<size_t>(budget));

    const auto r = static_cast<uint32_t>(plan_.rooms.size());
    const std::string client_id = people_.clients[first.client].id.value().str();
    const std::string counselor_id = people_.counselors[first.counselor].id.value().str();
    const auto& [low, high] = std::minmax(client_id, counselor_id);
    PlannedRoom room;
    room.id = room::RoomId{api::uuid_from_text("room|" + low + "|" + high)};
    room.client = first.client;
    room.counselor = first.counselor;
    room.opened_by_client = by_client;
    if (by_client) room.session = first_session;
    const auto message_base = static_cast<uint32_t>(plan_.messages.size());
    for (const auto& step : steps) {
      if (step.kind == ActionKind::send_message) {
        plan_.messages.push_back(
            PlannedMessage{room::MessageId{random_.uuid_v7_at(step.at)}, r, step.flag == 1});
        ++room.messages;
      }
    }
    plan_.rooms.push_back(room);
    for (const auto& step : steps) {
      switch (step.kind) {
        case ActionKind::open_room:
          add(step.at, ActionKind::open_room, r);
          break;
        case ActionKind::send_message:
          add(step.at, ActionKind::send_message, message_base + step.local);
          break;
        default:
          add(step.at, ActionKind::mark_read, r, message_base + step.local, step.flag);
          break;
      }
    }
    return static_cast<int64_t>(steps.size());
  }

  // ---- patient records ---------------------------------------------------------------------

  void plan_patients(int64_t budget) {
    std::vector<uint32_t> clients;
    for (uint32_t k = 0; k < client_sessions_.size(); ++k)
      if (!client_sessions_[k].empty()) clients.push_back(k);
    for (size_t i = clients.size(); i > 1; --i)
      std::swap(clients[i - 1], clients[random_.index(i)]);
    int64_t used = 0;
    for (uint32_t k : clients) {
      if (used >= budget) break;
      used += plan_patient(k, budget - used);
    }
  }

  std::string new_patient_id() {
    static constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (;;) {
      std::string id = "p_";
      for (int i = 0; i < 6; ++i) id += kAlphabet[random_.index(kAlphabet.size())];
      if (patient_ids_.insert(id).second) return id;
    }
  }

  // The client keeps a patient record: created after their first booking, then sessions added
  // as they are completed, tags from their counsellor, wallet top-ups.
  int64_t plan_patient(uint32_t client, int64_t budget) {
    const auto& sessions = client_sessions_[client];
    const auto& first = plan_.sessions[sessions.front()];
    const Timestamp created = first.booked_at + random_.span(hours{1}, days{10});
    if (created >= timeline_.now || budget <= 0) return 0;
    std::vector<Step> steps;
    uint32_t order = 0;
    steps.push_back({created, order++, ActionKind::create_patient, 0, 0});
    for (uint32_t s : sessions) {
      const auto& session = plan_.sessions[s];
      if (!session.completed_at || *session.completed_at <= created || !random_.chance(0.6))
        continue;
      steps.push_back({*session.completed_at + random_.span(hours{1}, days{3}), order++,
                       ActionKind::add_patient_session, random_.chance(0.3), s});
    }
    if (random_.chance(0.4)) {
      std::vector<uint32_t> tags;
      for (int64_t n = random_.between(1, 2); n > 0; --n) {
        const auto tag = static_cast<uint32_t>(random_.index(patient_tags().size()));
        if (std::find(tags.begin(), tags.end(), tag) != tags.end()) continue;
        tags.push_back(tag);
        steps.push_back({created + random_.span(hours{1}, days{30}), order++,
                         ActionKind::add_patient_tag, random_.chance(0.6), tag});
      }
    }
    if (random_.chance(0.3)) {
      for (int64_t n = random_.between(1, 3); n > 0; --n) {
        const auto rands = static_cast<uint32_t>(random_.between(4, 60) * 2500);  // R100–R1500
        steps.push_back({created + random_.span(hours{1}, days{90}), order++,
                         ActionKind::update_patient_wallet, 0, rands});
      }
    }
    std::erase_if(steps, [&](const Step& s) { return s.at >= timeline_.now; });
    std::sort(steps.begin(), steps.end(), [](const Step& x, const Step& y) {
      return x.at != y.at ? x.at < y.at : x.order < y.order;
    });
    if (static_cast<int64_t>(steps.size()) > budget) steps.resize(static_cast<size_t>(budget));

    const auto p = static_cast<uint32_t>(plan_.patients.size());
    plan_.patients.push_back(PlannedPatient{new_patient_id(), client, first.counselor});
    for (const auto& step : steps) add(step.at, step.kind, p, step.local, step.flag);
    return static_cast<int64_t>(steps.size());
  }

  // ---- sign-ins ------------------------------------------------------------------------------

  // Sign-ins spread over the year make up the exact total.
  void plan_logins(int64_t count) {
    for (int64_t i = 0; i < count; ++i) {
      const bool counselor = random_.chance(0.2);
      const uint32_t who = static_cast<uint32_t>(
          random_.index(counselor ? people_.counselors.size() : people_.clients.size()));
      const Timestamp joined =
          counselor ? people_.counselors[who].registered_at : people_.clients[who].registered_at;
      add(random_.moment(joined + minutes{1}, timeline_.now - seconds{1}), ActionKind::login, who,
          0, counselor);
    }
  }

  const Population& people_;
  const Timeline& timeline_;
  SeedRandom& random_;
  WeightedPicker counselor_picker_;
  WeightedPicker client_picker_;
  LocalDates local_dates_;
  Timestamp first_bookable_ = Timestamp::max();
  std::vector<uint32_t> primary_counselor_;
  std::vector<std::vector<uint32_t>> client_sessions_;
  std::unordered_set<uint64_t> counselor_busy_;
  std::unordered_set<uint64_t> client_busy_;
  std::unordered_map<uint64_t, uint32_t> pair_index_;  // (client, counsellor) -> first session
  std::vector<uint32_t> pairs_;                        // first sessions, in planning order
  std::unordered_set<std::string> patient_ids_;
  uint32_t next_order_ = 0;
  HistoryPlan plan_;
};

}  // namespace

HistoryPlan plan_history(const Population& people, const Timeline& timeline, int64_t events,
                         SeedRandom& random) {
  return Planner(people, timeline, random).run(events);
}

}  // namespace counsel::bench
