// Given events / when command / then events (or a rejection) for the counselor aggregate.
#include "domain/aggregates/counselor.hpp"

#include <boost/test/unit_test.hpp>

#include "domain_test_support.hpp"

using namespace counsel;
using namespace counsel::counselor;
using counsel::test::at;
using counsel::test::doc;
using counsel::test::session;
using counsel::test::user;

namespace {

const UserId kCounselor = user(1);
const UserId kClient = user(2);
const UserId kOtherClient = user(3);
const UserId kOtherCounselor = user(4);
const Actor kCounselorActor{kCounselor, Role::counselor};
const Actor kClientActor{kClient, Role::client};
const Actor kOtherClientActor{kOtherClient, Role::client};
const Actor kOtherCounselorActor{kOtherCounselor, Role::counselor};
const Actor kSystem{UserId{}, Role::system};

// Monday 2026-03-02; the counsellor works 09:00-17:00 SAST (07:00-15:00Z) Mon-Fri.
const Timestamp kNow = at("2026-02-23T08:00:00Z");
const char* kAvailability = R"({"time_zone":"Africa/Johannesburg","buffer_minutes":15,
  "min_notice_minutes":60,
  "weekly":[{"day":"mon","start":"09:00","end":"17:00"},{"day":"tue","start":"09:00","end":"17:00"},
            {"day":"wed","start":"09:00","end":"17:00"},{"day":"thu","start":"09:00","end":"17:00"},
            {"day":"fri","start":"09:00","end":"17:00"}]})";

calendar::Availability availability() {
  auto d = doc(kAvailability);
  auto a = calendar::parse_availability(d);
  BOOST_REQUIRE(a.has_value());
  return *a;
}

SessionRequested requested(unsigned n, std::string_view start, int minutes = 60,
                           UserId client = kClient) {
  auto s = at(start);
  return SessionRequested{
      session(n),        kCounselor,        client, s, s + std::chrono::minutes{minutes}, minutes,
      "enc:v1:dG9waWM=", SessionMode::video};
}

// A verified counsellor: only those can be booked (see the admin decisions below).
State verified_counselor() {
  State s = initial_state(kCounselor);
  evolve(s, CounselorVerified{kCounselor});
  return s;
}

struct Scenario {
  State state = verified_counselor();

  Scenario& given(std::initializer_list<Event> events) {
    for (auto& e : events) evolve(state, e);
    return *this;
  }
  Scenario& given_availability() { return given({AvailabilitySet{kCounselor, availability()}}); }

  Expected<std::vector<Event>, Rejection> when(const Command& c, const Actor& actor,
                                               Timestamp now = kNow) const {
    return decide(state, c, actor, now);
  }
  // Parses the command JSON like the processor does, then decides.
  Expected<std::vector<Event>, Rejection> when_json(std::string_view type, std::string_view data,
                                                    const Actor& actor,
                                                    Timestamp now = kNow) const {
    auto d = doc(data);
    auto c = parse_command(type, d);
    if (!c) return unexpected(c.error());
    return decide(state, *c, actor, now);
  }
  // Decides and, on success, applies the events (the processor's loop).
  Expected<std::vector<Event>, Rejection> run(const Command& c, const Actor& actor,
                                              Timestamp now = kNow) {
    auto r = decide(state, c, actor, now);
    if (r)
      for (auto& e : *r) evolve(state, e);
    return r;
  }
};

void then_rejected(const Expected<std::vector<Event>, Rejection>& r, RejectionKind kind,
                   std::string_view code) {
  BOOST_REQUIRE_MESSAGE(!r.has_value(),
                        "expected rejection " << code << " but events were decided");
  BOOST_TEST(r.error().code == code);
  BOOST_TEST(to_string(r.error().kind) == to_string(kind));
  BOOST_TEST(!r.error().message.empty());
}

template <class E>
E then_single(const Expected<std::vector<Event>, Rejection>& r) {
  BOOST_REQUIRE_MESSAGE(r.has_value(),
                        "rejected: " << (r ? "" : r.error().code + " " + r.error().message));
  BOOST_REQUIRE(r->size() == 1u);
  BOOST_REQUIRE(std::holds_alternative<E>(r->front()));
  return std::get<E>(r->front());
}

RequestSession request(unsigned n, std::string_view start, int minutes = 60,
                       UserId client = kClient) {
  return RequestSession{
      session(n), client, at(start), minutes, "enc:v1:dG9waWM=", SessionMode::video};
}

// Reasons arrive sealed with the client's key (the api seals them); these stand for that.
const std::string kFullyBooked = "enc:v1:ZnVsbHkgYm9va2Vk";
const std::string kIll = "enc:v1:aWxs";
const std::string kAway = "enc:v1:YXdheQ==";

ChangeSession change(SessionAction action, unsigned n, std::string reason = "") {
  return ChangeSession{action, session(n), std::move(reason)};
}

std::string request_json(std::string_view start, int minutes = 60, std::string_view extra = "") {
  return R"({"session_id":")" + session(9).value().str() + R"(","client_id":")" +
         kClient.value().str() + R"(","start":")" + std::string(start) +
         R"(","duration_minutes":)" + std::to_string(minutes) + R"(,"topic":"","mode":"chat")" +
         std::string(extra) + "}";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(counselor_aggregate_test)

// ---------------- profile and availability ----------------

BOOST_AUTO_TEST_CASE(owner_updates_profile_trimmed) {
  Scenario s;
  auto e = then_single<ProfileUpdated>(s.when_json(
      "counselor.update_profile",
      R"({"specialties":[" anxiety ","grief"],"languages":["en","zu"],"level":" senior ","bio":"Hi"})",
      kCounselorActor));
  BOOST_TEST((e.counselor_id == kCounselor));
  BOOST_TEST((e.specialties == std::vector<std::string>{"anxiety", "grief"}));
  BOOST_TEST((e.languages == std::vector<std::string>{"en", "zu"}));
  BOOST_TEST(e.level == "senior");
  BOOST_TEST(e.bio == "Hi");
  s.given({e});
  BOOST_TEST(s.state.profile.has_profile);
  BOOST_TEST(profile_view_json(s.state) ==
             R"({"bio":"Hi","credentials":"","id":")" + kCounselor.value().str() +
                 R"(","languages":["en","zu"],"level":"senior","specialties":["anxiety","grief"],)"
                 R"("suspended":false,"verified":true})");
}

BOOST_AUTO_TEST_CASE(only_the_counselor_updates_profile_and_availability) {
  Scenario s;
  UpdateProfile profile{{"anxiety"}, {"en"}, "junior", "", ""};
  then_rejected(s.when(profile, kOtherCounselorActor), RejectionKind::forbidden,
                "not_profile_owner");
  then_rejected(s.when(profile, Actor{kCounselor, Role::client}), RejectionKind::forbidden,
                "not_profile_owner");
  then_rejected(s.when(profile, kClientActor), RejectionKind::forbidden, "not_profile_owner");
  then_rejected(s.when(SetAvailability{availability()}, kOtherCounselorActor),
                RejectionKind::forbidden, "not_profile_owner");
  // The ops tools (system role) may seed them.
  then_single<ProfileUpdated>(s.when(profile, kSystem));
  auto set = then_single<AvailabilitySet>(s.when(SetAvailability{availability()}, kCounselorActor));
  BOOST_TEST((set.availability == availability()));
}

BOOST_AUTO_TEST_CASE(profile_input_is_validated) {
  Scenario s;
  auto bad = [&](std::string_view data) {
    then_rejected(s.when_json("counselor.update_profile", data, kCounselorActor),
                  RejectionKind::invalid, "invalid_command");
  };
  bad(R"({"specialties":[],"languages":["en"],"level":"a","bio":""})");
  bad(R"({"languages":["en"],"level":"a","bio":""})");
  bad(R"({"specialties":["x"],"languages":["  "],"level":"a","bio":""})");
  bad(R"({"specialties":["x"],"languages":[3],"level":"a","bio":""})");
  bad(R"({"specialties":["x"],"languages":["en"],"level":"","bio":""})");
  bad(R"({"specialties":["x"],"languages":["en"],"level":"a","bio":7})");
  bad(R"({"specialties":["x"],"languages":["en"],"bio":""})");
  bad(R"([])");
  std::string long_label(65, 'a');
  bad(R"({"specialties":[")" + long_label + R"("],"languages":["en"],"level":"a","bio":""})");
  bad(R"({"specialties":["x"],"languages":["en"],"level":")" + std::string(41, 'l') +
      R"(","bio":""})");
  bad(R"({"specialties":["x"],"languages":["en"],"level":"a","bio":")" + std::string(4001, 'b') +
      R"("})");
  std::string many = R"({"specialties":[)";
  for (int i = 0; i < 21; ++i) many += std::string(i ? "," : "") + "\"s" + std::to_string(i) + "\"";
  bad(many + R"(],"languages":["en"],"level":"a","bio":""})");
  // Limits are inclusive, and counted in characters, not bytes.
  std::string sixty_four_chars;
  for (int i = 0; i < 64; ++i) sixty_four_chars += "\xC3\xA9";  // é
  then_single<ProfileUpdated>(
      s.when_json("counselor.update_profile",
                  R"({"specialties":[")" + sixty_four_chars + R"("],"languages":["en"],"level":")" +
                      std::string(40, 'l') + R"(","bio":")" + std::string(4000, 'b') + R"("})",
                  kCounselorActor));
}

BOOST_AUTO_TEST_CASE(availability_input_is_validated) {
  Scenario s;
  then_rejected(s.when_json("counselor.set_availability",
                            R"({"time_zone":"Nowhere/City","weekly":[]})", kCounselorActor),
                RejectionKind::invalid, "invalid_availability");
  auto e = then_single<AvailabilitySet>(
      s.when_json("counselor.set_availability", kAvailability, kCounselorActor));
  s.given({e});
  BOOST_REQUIRE(s.state.availability.has_value());
  BOOST_TEST(s.state.availability->time_zone == "Africa/Johannesburg");
  auto view = doc(availability_view_json(s.state));
  BOOST_TEST(json::get_string(view, "counselor_id").value() == kCounselor.value().str());
  BOOST_TEST(json::get_int(view, "buffer_minutes").value() == 15);
}

BOOST_AUTO_TEST_CASE(views_before_anything_was_set) {
  Scenario s;
  auto availability_view = doc(availability_view_json(s.state));
  BOOST_TEST(availability_view["time_zone"].IsNull());
  BOOST_TEST(availability_view["weekly"].Empty());
  auto profile = doc(profile_view_json(s.state));
  BOOST_TEST(json::get_string(profile, "id").value() == kCounselor.value().str());
  BOOST_TEST(profile["specialties"].Empty());
}

// ---------------- booking ----------------

BOOST_AUTO_TEST_CASE(client_books_a_free_slot) {
  Scenario s;
  s.given_availability();
  auto e = then_single<SessionRequested>(
      s.when_json("session.request", request_json("2026-03-02T09:00:00+02:00", 50), kClientActor));
  BOOST_TEST((e.session_id == session(9)));
  BOOST_TEST((e.counselor_id == kCounselor));
  BOOST_TEST((e.client_id == kClient));
  BOOST_TEST((e.start == at("2026-03-02T07:00:00Z")));
  BOOST_TEST((e.end == at("2026-03-02T07:50:00Z")));
  BOOST_TEST(e.duration_minutes == 50);
  BOOST_TEST((e.mode == SessionMode::chat));
  s.given({e});
  auto view = doc(session_view_json(s.state, session(9)));
  BOOST_TEST(json::get_string(view, "status").value() == "requested");
  BOOST_TEST(json::get_string(view, "start").value() == "2026-03-02T07:00:00.000Z");
  BOOST_TEST(json::get_string(view, "end").value() == "2026-03-02T07:50:00.000Z");
  BOOST_TEST(json::get_string(view, "id").value() == session(9).value().str());
  BOOST_TEST(json::get_string(view, "counselor_id").value() == kCounselor.value().str());
  BOOST_TEST(json::get_string(view, "client_id").value() == kClient.value().str());
  BOOST_TEST(json::get_string(view, "mode").value() == "chat");
  BOOST_TEST(view["topic"].IsNull());  // not kept by the aggregate
  BOOST_TEST(json::get_int(view, "duration_minutes").value() == 50);
  BOOST_TEST(json::get_bool(view, "late_cancellation").value() == false);
  BOOST_TEST(view["cancelled_by"].IsNull());
  BOOST_TEST(view["cancellation_reason"].IsNull());
  BOOST_TEST(session_view_json(s.state, session(99)) == "null");
}

BOOST_AUTO_TEST_CASE(only_the_named_client_books) {
  Scenario s;
  s.given_availability();
  then_rejected(s.when(request(1, "2026-03-02T07:00:00Z"), kOtherClientActor),
                RejectionKind::forbidden, "not_session_client");
  then_rejected(s.when(request(1, "2026-03-02T07:00:00Z"), Actor{kClient, Role::counselor}),
                RejectionKind::forbidden, "not_session_client");
  then_rejected(s.when(request(1, "2026-03-02T07:00:00Z"), kCounselorActor),
                RejectionKind::forbidden, "not_session_client");
}

BOOST_AUTO_TEST_CASE(booking_input_is_validated) {
  Scenario s;
  s.given_availability();
  auto bad = [&](const std::string& data) {
    then_rejected(s.when_json("session.request", data, kClientActor), RejectionKind::invalid,
                  "invalid_command");
  };
  bad(request_json("2026-03-02T07:00:00Z", 14));
  bad(request_json("2026-03-02T07:00:00Z", 241));
  bad(request_json("not a time"));
  bad(request_json("2026-03-02 07:00"));
  bad(R"({"session_id":"nope","client_id":")" + kClient.value().str() +
      R"(","start":"2026-03-02T07:00:00Z","duration_minutes":60,"mode":"chat"})");
  bad(R"({"session_id":")" + session(1).value().str() +
      R"(","start":"2026-03-02T07:00:00Z","duration_minutes":60,"mode":"chat"})");
  bad(R"({"session_id":")" + session(1).value().str() + R"(","client_id":")" +
      kClient.value().str() +
      R"(","start":"2026-03-02T07:00:00Z","duration_minutes":60.5,"mode":"chat"})");
  bad(R"({"session_id":")" + session(1).value().str() + R"(","client_id":")" +
      kClient.value().str() +
      R"(","start":"2026-03-02T07:00:00Z","duration_minutes":"60","mode":"chat"})");
  bad(R"({"session_id":")" + session(1).value().str() + R"(","client_id":")" +
      kClient.value().str() +
      R"(","start":"2026-03-02T07:00:00Z","duration_minutes":60,"mode":"phone"})");
  bad(R"({"session_id":")" + session(1).value().str() + R"(","client_id":")" +
      kClient.value().str() + R"(","start":"2026-03-02T07:00:00Z","duration_minutes":60})");
  bad(R"({"session_id":")" + session(1).value().str() + R"(","client_id":")" +
      kClient.value().str() +
      R"(","start":"2026-03-02T07:00:00Z","duration_minutes":60,"mode":"chat","topic":")" +
      std::string(4001, 't') + R"("})");
  bad(R"({"session_id":")" + session(1).value().str() + R"(","client_id":")" +
      kClient.value().str() +
      R"(","start":"2026-03-02T07:00:00Z","duration_minutes":60,"mode":"chat","topic":5})");
  // Bounds are inclusive; the topic is optional.
  then_single<SessionRequested>(
      s.when_json("session.request", request_json("2026-03-02T07:00:00Z", 15), kClientActor));
  then_single<SessionRequested>(
      s.when_json("session.request", request_json("2026-03-02T07:00:00Z", 240), kClientActor));
  then_single<SessionRequested>(s.when_json(
      "session.request",
      R"({"session_id":")" + session(1).value().str() + R"(","client_id":")" +
          kClient.value().str() +
          R"(","start":"2026-03-02T07:00:00Z","duration_minutes":60,"mode":"in_person"})",
      kClientActor));
  then_rejected(s.when_json("session.fly", "{}", kClientActor), RejectionKind::invalid,
                "unknown_command");
}

BOOST_AUTO_TEST_CASE(booking_rules_in_order) {
  Scenario s;
  // No availability set: nothing is bookable.
  then_rejected(s.when(request(1, "2026-03-02T07:00:00Z"), kClientActor),
                RejectionKind::unprocessable, "outside_availability");
  s.given_availability();
  // In the past (also outside availability: in_past wins).
  then_rejected(s.when(request(1, "2026-02-22T03:00:00Z"), kClientActor),
                RejectionKind::unprocessable, "in_past");
  then_rejected(s.when(request(1, "2026-02-23T07:59:59Z"), kClientActor),
                RejectionKind::unprocessable, "in_past");
  // Inside the 60-minute notice (08:00Z now): 08:30Z is too soon, 09:00Z is fine.
  then_rejected(s.when(request(1, "2026-02-23T08:30:00Z"), kClientActor),
                RejectionKind::unprocessable, "too_soon");
  then_rejected(s.when(request(1, "2026-02-23T08:00:00Z"), kClientActor),
                RejectionKind::unprocessable, "too_soon");
  then_single<SessionRequested>(s.when(request(1, "2026-02-23T09:00:00Z"), kClientActor));
  // Outside the weekly window (Saturday; Monday 06:30Z = 08:30 local; ends after 17:00 local).
  then_rejected(s.when(request(1, "2026-02-28T09:00:00Z"), kClientActor),
                RejectionKind::unprocessable, "outside_availability");
  then_rejected(s.when(request(1, "2026-03-02T06:30:00Z"), kClientActor),
                RejectionKind::unprocessable, "outside_availability");
  then_rejected(s.when(request(1, "2026-03-02T14:30:00Z"), kClientActor),
                RejectionKind::unprocessable, "outside_availability");
  // Taken.
  s.given({requested(50, "2026-03-02T10:00:00Z")});
  then_rejected(s.when(request(1, "2026-03-02T10:30:00Z"), kClientActor), RejectionKind::conflict,
                "slot_unavailable");
  // Outside availability is reported before the overlap.
  then_rejected(s.when(request(1, "2026-03-02T14:30:00Z"), kClientActor),
                RejectionKind::unprocessable, "outside_availability");
}

BOOST_AUTO_TEST_CASE(a_counselor_is_never_double_booked) {
  Scenario s;
  s.given_availability();
  BOOST_REQUIRE(s.run(request(1, "2026-03-02T08:00:00Z"), kClientActor));  // 10:00-11:00 local
  then_rejected(s.run(request(2, "2026-03-02T08:00:00Z", 60, kOtherClient), kOtherClientActor),
                RejectionKind::conflict, "slot_unavailable");
  then_rejected(s.run(request(2, "2026-03-02T07:30:00Z", 60, kOtherClient), kOtherClientActor),
                RejectionKind::conflict, "slot_unavailable");
  then_rejected(s.run(request(2, "2026-03-02T08:59:00Z", 15, kOtherClient), kOtherClientActor),
                RejectionKind::conflict, "slot_unavailable");
  // Inside the 15-minute buffer on either side.
  then_rejected(s.run(request(2, "2026-03-02T09:10:00Z", 60, kOtherClient), kOtherClientActor),
                RejectionKind::conflict, "slot_unavailable");
  then_rejected(s.run(request(2, "2026-03-02T07:00:00Z", 50, kOtherClient), kOtherClientActor),
                RejectionKind::conflict, "slot_unavailable");
  // Exactly the buffer apart is fine.
  BOOST_REQUIRE(s.run(request(2, "2026-03-02T09:15:00Z", 60, kOtherClient), kOtherClientActor));
  BOOST_REQUIRE(s.run(request(3, "2026-03-02T07:00:00Z", 45, kOtherClient), kOtherClientActor));
  // A confirmed session blocks as well.
  BOOST_REQUIRE(s.run(change(SessionAction::confirm, 1), kCounselorActor));
  then_rejected(s.run(request(4, "2026-03-02T08:00:00Z"), kClientActor), RejectionKind::conflict,
                "slot_unavailable");
  // The same session id cannot be booked twice.
  then_rejected(s.run(request(1, "2026-03-03T08:00:00Z"), kClientActor), RejectionKind::conflict,
                "session_exists");
}

BOOST_AUTO_TEST_CASE(ended_sessions_free_their_slot) {
  using A = SessionAction;
  for (auto [action, confirm_first] :
       {std::pair{A::decline, false}, std::pair{A::cancel, false}, std::pair{A::cancel, true},
        std::pair{A::complete, true}, std::pair{A::no_show, true}}) {
    Scenario s;
    s.given_availability();
    BOOST_REQUIRE(s.run(request(1, "2026-03-02T08:00:00Z"), kClientActor));
    if (confirm_first) BOOST_REQUIRE(s.run(change(A::confirm, 1), kCounselorActor));
    const Actor& by = action == A::cancel ? kClientActor : kCounselorActor;
    BOOST_REQUIRE(s.run(change(action, 1), by));
    BOOST_TEST(s.state.active.size() == 0u);
    then_single<SessionRequested>(s.when(request(2, "2026-03-02T08:00:00Z"), kClientActor));
  }
}

// ---------------- the session state machine ----------------

BOOST_AUTO_TEST_CASE(state_machine_allows_only_its_transitions) {
  using A = SessionAction;
  using S = SessionStatus;
  const std::vector<A> actions{A::confirm, A::decline, A::complete, A::no_show, A::cancel};
  auto allowed = [](S from, A a) {
    switch (a) {
      case A::confirm:
        return from == S::requested;
      case A::decline:
        return from == S::requested;
      case A::cancel:
        return from == S::requested || from == S::confirmed;
      case A::complete:
        return from == S::confirmed;
      case A::no_show:
        return from == S::confirmed;
    }
    return false;
  };
  // Routes into every status.
  const std::vector<std::pair<S, std::vector<A>>> routes{
      {S::requested, {}},
      {S::confirmed, {A::confirm}},
      {S::declined, {A::decline}},
      {S::cancelled, {A::cancel}},
      {S::completed, {A::confirm, A::complete}},
      {S::no_show, {A::confirm, A::no_show}},
  };
  for (auto& [status, route] : routes) {
    for (A action : actions) {
      Scenario s;
      s.given_availability();
      s.given({requested(1, "2026-03-02T08:00:00Z")});
      for (A step : route)
        BOOST_REQUIRE(s.run(change(step, 1), step == A::cancel ? kClientActor : kCounselorActor));
      BOOST_REQUIRE((s.state.sessions.at(session(1)).status == status));
      const Actor& by = action == A::cancel ? kClientActor : kCounselorActor;
      auto r = s.when(change(action, 1, "because"), by);
      BOOST_TEST_INFO("from " << to_string(status) << " action " << static_cast<int>(action));
      if (allowed(status, action)) {
        BOOST_TEST(r.has_value());
      } else {
        then_rejected(r, RejectionKind::conflict, "invalid_transition");
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(transitions_produce_the_catalogue_events) {
  Scenario s;
  s.given_availability();
  s.given({requested(1, "2026-03-02T08:00:00Z"), requested(2, "2026-03-03T08:00:00Z"),
           requested(3, "2026-03-04T08:00:00Z")});
  auto confirmed =
      then_single<SessionConfirmed>(s.run(change(SessionAction::confirm, 1), kCounselorActor));
  BOOST_TEST((confirmed == SessionConfirmed{session(1), kCounselor, kClient}));
  auto completed =
      then_single<SessionCompleted>(s.run(change(SessionAction::complete, 1), kCounselorActor));
  BOOST_TEST((completed == SessionCompleted{session(1), kCounselor, kClient}));
  BOOST_TEST((s.state.sessions.at(session(1)).status == SessionStatus::completed));

  auto declined = then_single<SessionDeclined>(
      s.run(change(SessionAction::decline, 2, kFullyBooked), kCounselorActor));
  BOOST_TEST((declined == SessionDeclined{session(2), kCounselor, kClient, kFullyBooked}));
  auto view = doc(session_view_json(s.state, session(2)));
  BOOST_TEST(json::get_string(view, "status").value() == "declined");
  BOOST_TEST(json::get_string(view, "cancellation_reason").value() == kFullyBooked);

  BOOST_REQUIRE(s.run(change(SessionAction::confirm, 3), kCounselorActor));
  auto no_show =
      then_single<SessionNoShow>(s.run(change(SessionAction::no_show, 3), kCounselorActor));
  BOOST_TEST((no_show == SessionNoShow{session(3), kCounselor, kClient}));
  BOOST_TEST(json::get_string(doc(session_view_json(s.state, session(3))), "status").value() ==
             "no_show");
}

BOOST_AUTO_TEST_CASE(complete_and_no_show_do_not_wait_for_the_start) {
  Scenario s;
  s.given_availability();
  s.given(
      {requested(1, "2026-03-02T08:00:00Z"), SessionConfirmed{session(1), kCounselor, kClient}});
  then_single<SessionCompleted>(s.when(change(SessionAction::complete, 1), kCounselorActor, kNow));
  then_single<SessionNoShow>(s.when(change(SessionAction::no_show, 1), kCounselorActor, kNow));
}

BOOST_AUTO_TEST_CASE(only_the_session_counselor_confirms_declines_completes) {
  Scenario s;
  s.given_availability();
  s.given({requested(1, "2026-03-02T08:00:00Z")});
  for (auto action : {SessionAction::confirm, SessionAction::decline, SessionAction::complete,
                      SessionAction::no_show}) {
    then_rejected(s.when(change(action, 1), kClientActor), RejectionKind::forbidden,
                  "not_session_counselor");
    then_rejected(s.when(change(action, 1), kOtherCounselorActor), RejectionKind::forbidden,
                  "not_session_counselor");
    then_rejected(s.when(change(action, 1), Actor{kCounselor, Role::admin}),
                  RejectionKind::forbidden, "not_session_counselor");
  }
}

BOOST_AUTO_TEST_CASE(either_participant_cancels_and_nobody_else) {
  Scenario s;
  s.given_availability();
  s.given({requested(1, "2026-03-02T08:00:00Z"), requested(2, "2026-03-03T08:00:00Z")});
  then_rejected(s.when(change(SessionAction::cancel, 1), kOtherClientActor),
                RejectionKind::forbidden, "not_session_participant");
  then_rejected(s.when(change(SessionAction::cancel, 1), kOtherCounselorActor),
                RejectionKind::forbidden, "not_session_participant");
  auto by_client =
      then_single<SessionCancelled>(s.run(change(SessionAction::cancel, 1, kIll), kClientActor));
  BOOST_TEST((by_client.cancelled_by == kClient));
  BOOST_TEST(by_client.reason == kIll);
  auto by_counselor = then_single<SessionCancelled>(
      s.run(change(SessionAction::cancel, 2, kAway), kCounselorActor));
  BOOST_TEST((by_counselor.cancelled_by == kCounselor));
  auto view = doc(session_view_json(s.state, session(2)));
  BOOST_TEST(json::get_string(view, "status").value() == "cancelled");
  BOOST_TEST(json::get_string(view, "cancelled_by").value() == kCounselor.value().str());
  BOOST_TEST(json::get_string(view, "cancellation_reason").value() == kAway);
}

BOOST_AUTO_TEST_CASE(cancelling_within_24_hours_is_late) {
  Scenario s;
  s.given_availability();
  s.given({requested(1, "2026-03-02T08:00:00Z")});
  auto cancel = change(SessionAction::cancel, 1);
  auto early =
      then_single<SessionCancelled>(s.when(cancel, kClientActor, at("2026-03-01T08:00:00Z")));
  BOOST_TEST(!early.late);  // exactly 24 h before
  auto late =
      then_single<SessionCancelled>(s.when(cancel, kClientActor, at("2026-03-01T08:00:00.001Z")));
  BOOST_TEST(late.late);
  auto after_start =
      then_single<SessionCancelled>(s.when(cancel, kCounselorActor, at("2026-03-02T08:30:00Z")));
  BOOST_TEST(after_start.late);
  s.given({late});
  BOOST_TEST(s.state.sessions.at(session(1)).late_cancellation);
  BOOST_TEST(
      json::get_bool(doc(session_view_json(s.state, session(1))), "late_cancellation").value());
}

BOOST_AUTO_TEST_CASE(unknown_session_is_not_found) {
  Scenario s;
  for (auto action : {SessionAction::confirm, SessionAction::decline, SessionAction::complete,
                      SessionAction::no_show, SessionAction::cancel})
    then_rejected(s.when(change(action, 77), kCounselorActor), RejectionKind::not_found,
                  "session_not_found");
}

BOOST_AUTO_TEST_CASE(change_commands_parse) {
  Scenario s;
  s.given_availability();
  s.given({requested(1, "2026-03-02T08:00:00Z")});
  const std::string id = session(1).value().str();
  then_single<SessionConfirmed>(
      s.when_json("session.confirm", R"({"session_id":")" + id + "\"}", kCounselorActor));
  auto d = then_single<SessionDeclined>(
      s.when_json("session.decline", R"({"session_id":")" + id + R"(","reason":")" + kIll + "\"}",
                  kCounselorActor));
  BOOST_TEST(d.reason == kIll);
  // The reason may describe the client's health: the log only ever takes it sealed (or "").
  for (const char* type : {"session.decline", "session.cancel"}) {
    const Actor& actor =
        std::string_view(type) == "session.cancel" ? kClientActor : kCounselorActor;
    then_rejected(
        s.when_json(type, R"({"session_id":")" + id + R"(","reason":"I feel unwell"})", actor),
        RejectionKind::invalid, "invalid_command");
    then_rejected(s.when_json(type,
                              R"({"session_id":")" + id + R"(","reason":"enc:v1:)" +
                                  std::string(kMaxSealedReasonChars, 'A') + "\"}",
                              actor),
                  RejectionKind::invalid, "invalid_command");
    BOOST_TEST(s.when_json(type,
                           R"({"session_id":")" + id + R"(","reason":"enc:v1:)" +
                               std::string(kMaxSealedReasonChars - 7, 'A') + "\"}",
                           actor)
                   .has_value());
    BOOST_TEST(
        s.when_json(type, R"({"session_id":")" + id + R"(","reason":""})", actor).has_value());
  }
  then_single<SessionCancelled>(
      s.when_json("session.cancel", R"({"session_id":")" + id + "\"}", kClientActor));
  then_rejected(s.when_json("session.complete", R"({"session_id":")" + id + "\"}", kCounselorActor),
                RejectionKind::conflict, "invalid_transition");
  then_rejected(
      s.when_json("session.mark_no_show", R"({"session_id":")" + id + "\"}", kCounselorActor),
      RejectionKind::conflict, "invalid_transition");
  then_rejected(s.when_json("session.cancel", R"({"session_id":"x"})", kClientActor),
                RejectionKind::invalid, "invalid_command");
  then_rejected(s.when_json("session.cancel", R"({"session_id":")" + id + R"(","reason":false})",
                            kClientActor),
                RejectionKind::invalid, "invalid_command");
  BOOST_TEST(handles_command("session.mark_no_show"));
  BOOST_TEST(!handles_command("session.no_show"));
  BOOST_TEST(!handles_command("account.register"));
}

BOOST_AUTO_TEST_CASE(a_stream_without_a_counselor_id_refuses_commands) {
  State nobody = initial_state(UserId{});
  then_rejected(decide(nobody, UpdateProfile{{"a"}, {"en"}, "x", "", ""}, kSystem, kNow),
                RejectionKind::invalid, "invalid_stream");
}

// ---------------- codecs and redelivery ----------------

BOOST_AUTO_TEST_CASE(every_event_round_trips_through_its_canonical_json) {
  const std::vector<Event> events{
      ProfileUpdated{
          kCounselor, {"anxiety", "grief"}, {"en"}, "senior", "bio \"quoted\" \xC3\xA9", ""},
      ProfileUpdated{kCounselor, {"trauma"}, {"zu"}, "senior", "", "HPCSA PS 0123456"},
      CounselorVerified{kCounselor},
      CounselorSuspended{kCounselor},
      CounselorReinstated{kCounselor},
      AvailabilitySet{kCounselor, availability()},
      requested(1, "2026-03-02T08:00:00Z", 45),
      SessionConfirmed{session(1), kCounselor, kClient},
      SessionDeclined{session(1), kCounselor, kClient, kFullyBooked},
      SessionDeclined{session(1), kCounselor, kClient, ""},
      SessionCancelled{session(1), kCounselor, kClient, kClient, kIll, true},
      SessionCancelled{session(1), kCounselor, kClient, kCounselor, "", false},
      SessionCompleted{session(1), kCounselor, kClient},
      SessionNoShow{session(1), kCounselor, kClient},
  };
  for (auto& e : events) {
    auto ne = encode(e);
    BOOST_TEST_INFO("event " << ne.type);
    const bool sealed_reason =
        std::holds_alternative<SessionDeclined>(e) || std::holds_alternative<SessionCancelled>(e);
    BOOST_TEST(ne.version == (sealed_reason ? 2 : 1));
    BOOST_TEST(ne.type == event_type(e));
    auto d = doc(ne.data_json);
    BOOST_TEST(ne.data_json == json::canonical(d));  // already canonical
    auto back = decode(ne.type, ne.version, d);
    BOOST_REQUIRE(back.has_value());
    BOOST_TEST((*back == e));
    BOOST_TEST(encode(*back).data_json == ne.data_json);
    BOOST_TEST(!decode(ne.type, ne.version + 1, d).has_value());
    BOOST_TEST(!decode(ne.type, 0, d).has_value());
  }
  // Field names are exactly the catalogue's.
  BOOST_TEST(
      encode(requested(1, "2026-03-02T08:00:00Z", 45)).data_json ==
      R"({"client_id":")" + kClient.value().str() + R"(","counselor_id":")" +
          kCounselor.value().str() +
          R"(","duration_minutes":45,"end":"2026-03-02T08:45:00.000Z","mode":"video","session_id":")" +
          session(1).value().str() +
          R"(","start":"2026-03-02T08:00:00.000Z","topic":"enc:v1:dG9waWM="})");
  BOOST_TEST(
      encode(SessionCancelled{session(1), kCounselor, kClient, kClient, kIll, true}).data_json ==
      R"({"cancelled_by":")" + kClient.value().str() + R"(","client_id":")" +
          kClient.value().str() + R"(","counselor_id":")" + kCounselor.value().str() +
          R"(","late":true,"reason":")" + kIll + R"(","session_id":")" + session(1).value().str() +
          "\"}");
  auto availability_data = doc(encode(AvailabilitySet{kCounselor, availability()}).data_json);
  for (const char* field :
       {"counselor_id", "time_zone", "weekly", "buffer_minutes", "min_notice_minutes", "overrides"})
    BOOST_TEST(availability_data.HasMember(field), field);
}

BOOST_AUTO_TEST_CASE(decode_refuses_malformed_data) {
  BOOST_TEST(!decode("session.confirmed", 1, doc(R"({"session_id":"x"})")).has_value());
  BOOST_TEST(!decode("session.requested", 1, doc(R"({})")).has_value());
  BOOST_TEST(!decode("session.teleported", 1, doc(R"({})")).has_value());
  BOOST_TEST(!decode("counselor.profile_updated", 1, doc(R"([])")).has_value());
  auto e = encode(SessionCancelled{session(1), kCounselor, kClient, kClient, kIll, true});
  auto d = doc(e.data_json);
  d.RemoveMember("late");
  BOOST_TEST(!decode(e.type, e.version, d).has_value());
  BOOST_TEST(!decode(e.type, 1, d).has_value());
}

// session.declined and session.cancelled v2 seal the reason with the client's key; v1, written
// before, carried it in clear text and stays in the (immutable) log: it still decodes, upcast to
// the same events with the reason as logged.
BOOST_AUTO_TEST_CASE(reasons_are_sealed_from_v2_and_v1_still_decodes) {
  const std::string ids = R"("client_id":")" + kClient.value().str() + R"(","counselor_id":")" +
                          kCounselor.value().str() + R"(","session_id":")" +
                          session(1).value().str() + "\"";
  const std::string cancelled_v1 = "{" + ids + R"(,"cancelled_by":")" + kClient.value().str() +
                                   R"(","late":false,"reason":"ill"})";
  const std::string declined_v1 = "{" + ids + R"(,"reason":"fully booked"})";

  auto cancelled = decode("session.cancelled", 1, doc(cancelled_v1));
  BOOST_REQUIRE(cancelled.has_value());
  BOOST_TEST((std::get<SessionCancelled>(*cancelled) ==
              SessionCancelled{session(1), kCounselor, kClient, kClient, "ill", false}));
  auto declined = decode("session.declined", 1, doc(declined_v1));
  BOOST_REQUIRE(declined.has_value());
  BOOST_TEST((std::get<SessionDeclined>(*declined) ==
              SessionDeclined{session(1), kCounselor, kClient, "fully booked"}));
  // v1 without a reason is malformed, as it always was.
  BOOST_TEST(!decode("session.declined", 1, doc("{" + ids + "}")).has_value());

  // v2: the same shape, the reason sealed or "", never clear text.
  BOOST_TEST(!decode("session.cancelled", 2, doc(cancelled_v1)).has_value());
  BOOST_TEST(!decode("session.declined", 2, doc(declined_v1)).has_value());
  auto sealed = encode(SessionDeclined{session(1), kCounselor, kClient, kFullyBooked});
  BOOST_TEST(sealed.version == 2);
  BOOST_TEST(sealed.data_json == "{" + ids.substr(0, ids.find(R"("session_id")")) +
                                     R"("reason":")" + kFullyBooked + R"(",)" +
                                     ids.substr(ids.find(R"("session_id")")) + "}");
  BOOST_TEST(
      encode(SessionCancelled{session(1), kCounselor, kClient, kClient, "", false}).version == 2);
  // Other types have only v1.
  BOOST_TEST(encode(SessionConfirmed{session(1), kCounselor, kClient}).version == 1);

  // A replayed v1 cancellation moves the session like a v2 one; the aggregate's view shows the
  // reason as the event holds it (the read model decrypts v2 reasons for the participants).
  Scenario s;
  s.given_availability();
  s.given({requested(1, "2026-03-02T08:00:00Z"), *cancelled});
  BOOST_TEST((s.state.sessions.at(session(1)).status == SessionStatus::cancelled));
  BOOST_TEST(json::get_string(doc(session_view_json(s.state, session(1))), "cancellation_reason")
                 .value() == "ill");
  BOOST_TEST(s.state.active.size() == 0u);
}

BOOST_AUTO_TEST_CASE(redelivered_events_do_not_change_the_state_twice) {
  Scenario s;
  s.given_availability();
  auto req = requested(1, "2026-03-02T08:00:00Z");
  // Each event arrives twice, decoded from its own JSON as the processor would see it.
  auto redeliver = [&](const Event& e) {
    auto ne = encode(e);
    for (int i = 0; i < 2; ++i) {
      auto back = decode(ne.type, ne.version, doc(ne.data_json));
      BOOST_REQUIRE(back.has_value());
      evolve(s.state, *back);
    }
  };
  redeliver(req);
  BOOST_TEST(s.state.sessions.size() == 1u);
  BOOST_TEST(s.state.active.size() == 1u);
  redeliver(SessionConfirmed{session(1), kCounselor, kClient});
  redeliver(SessionCancelled{session(1), kCounselor, kClient, kClient, kIll, false});
  BOOST_TEST(s.state.active.size() == 0u);
  // A stale confirm after the cancellation does not revive the session.
  redeliver(SessionConfirmed{session(1), kCounselor, kClient});
  redeliver(req);
  BOOST_TEST((s.state.sessions.at(session(1)).status == SessionStatus::cancelled));
  BOOST_TEST(s.state.active.size() == 0u);
}

BOOST_AUTO_TEST_CASE(booking_stays_fast_with_many_sessions) {
  Scenario s;
  auto all_week = doc(R"({"time_zone":"UTC","weekly":[
      {"day":"mon","start":"00:00","end":"24:00"},{"day":"tue","start":"00:00","end":"24:00"},
      {"day":"wed","start":"00:00","end":"24:00"},{"day":"thu","start":"00:00","end":"24:00"},
      {"day":"fri","start":"00:00","end":"24:00"},{"day":"sat","start":"00:00","end":"24:00"},
      {"day":"sun","start":"00:00","end":"24:00"}]})");
  s.given({AvailabilitySet{kCounselor, *calendar::parse_availability(all_week)}});
  // 100k back-to-back one-hour sessions (~11 years).
  const Timestamp first = at("2026-03-02T00:00:00Z");
  const int count = 100000;
  for (int i = 0; i < count; ++i) {
    auto start = first + std::chrono::hours{i};
    s.given({SessionRequested{SessionId{test::nth_uuid(static_cast<unsigned>(i), 7)}, kCounselor,
                              kClient, start, start + std::chrono::hours{1}, 60, "",
                              SessionMode::chat}});
  }
  BOOST_TEST(s.state.active.size() == static_cast<size_t>(count));
  auto begun = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) {
    auto start = first + std::chrono::hours{(i * 97) % count} + std::chrono::minutes{30};
    then_rejected(
        s.when(RequestSession{session(5), kClient, start, 30, "", SessionMode::chat}, kClientActor),
        RejectionKind::conflict, "slot_unavailable");
  }
  auto after_last = first + std::chrono::hours{count};
  then_single<SessionRequested>(s.when(
      RequestSession{session(5), kClient, after_last, 60, "", SessionMode::chat}, kClientActor));
  auto elapsed = std::chrono::steady_clock::now() - begun;
  BOOST_TEST_MESSAGE("1001 booking decisions against 100k sessions: "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                     << " ms");
  // Generous bound (debug, sanitizers, shared CPU); a linear scan would be ~100x slower.
  BOOST_TEST(elapsed < std::chrono::seconds{5});
}

// ---------------- admin decisions: verification and suspension ----------------

BOOST_AUTO_TEST_CASE(only_a_verified_not_suspended_counselor_can_be_booked) {
  Scenario s;
  s.state = initial_state(kCounselor);
  s.given_availability();
  then_rejected(s.when(request(1, "2026-03-02T08:00:00Z"), kClientActor),
                RejectionKind::unprocessable, "counselor_not_verified");
  s.given({CounselorVerified{kCounselor}});
  BOOST_TEST(s.when(request(1, "2026-03-02T08:00:00Z"), kClientActor).has_value());
  s.given({CounselorSuspended{kCounselor}});
  then_rejected(s.when(request(1, "2026-03-02T08:00:00Z"), kClientActor),
                RejectionKind::unprocessable, "counselor_suspended");
  s.given({CounselorReinstated{kCounselor}});
  BOOST_TEST(s.when(request(1, "2026-03-02T08:00:00Z"), kClientActor).has_value());
}

BOOST_AUTO_TEST_CASE(admin_decisions_are_for_admins_and_idempotent) {
  Scenario s;
  s.state = initial_state(kCounselor);
  const Actor admin{UserId{counsel::test::nth_uuid(900)}, Role::admin};
  for (const Actor& who : {kClientActor, Actor{kCounselor, Role::counselor}})
    then_rejected(s.when(AdminDecision{AdminAction::verify}, who), RejectionKind::forbidden,
                  "admin_only");
  auto verified = s.when(AdminDecision{AdminAction::verify}, admin);
  BOOST_REQUIRE(verified.has_value());
  BOOST_TEST(verified->size() == 1u);
  s.given({verified->front()});
  BOOST_TEST(s.state.verified);
  BOOST_TEST(s.when(AdminDecision{AdminAction::verify}, admin)->empty());
  BOOST_TEST(s.when(AdminDecision{AdminAction::reinstate}, admin)->empty());
  auto suspended = s.when(AdminDecision{AdminAction::suspend}, kSystem);
  BOOST_REQUIRE(suspended.has_value());
  BOOST_TEST(suspended->size() == 1u);
  s.given({suspended->front()});
  BOOST_TEST(s.state.suspended);
  BOOST_TEST(s.when(AdminDecision{AdminAction::suspend}, admin)->empty());
  BOOST_TEST(handles_command("counselor.verify"));
  BOOST_TEST(handles_command("counselor.suspend"));
  BOOST_TEST(handles_command("counselor.reinstate"));
}

// ---------------- reviews ----------------

namespace {

const char* kSealedComment = "enc:v1:Z3JlYXQgaGVscA==";

ReviewId review(unsigned n) {
  return ReviewId{counsel::test::nth_uuid(n, 5)};
}

SubmitReview submit(unsigned review_n, unsigned session_n, int rating = 5,
                    std::string comment = kSealedComment) {
  return SubmitReview{review(review_n), session(session_n), rating, std::move(comment)};
}

std::string review_json(std::string_view rating, std::string_view extra = "") {
  return R"({"review_id":")" + review(1).value().str() + R"(","session_id":")" +
         session(1).value().str() + R"(","rating":)" + std::string(rating) + std::string(extra) +
         "}";
}

// Session 1 completed, 2 requested, 3 confirmed, 4 cancelled, 5 declined, 6 no-show; all the
// client's. Session 7, completed, is the other client's.
Scenario with_sessions_in_every_state() {
  Scenario s;
  s.given_availability();
  s.given({requested(1, "2026-03-02T07:00:00Z"), SessionConfirmed{session(1), kCounselor, kClient},
           SessionCompleted{session(1), kCounselor, kClient}});
  s.given({requested(2, "2026-03-02T09:00:00Z")});
  s.given(
      {requested(3, "2026-03-02T11:00:00Z"), SessionConfirmed{session(3), kCounselor, kClient}});
  s.given({requested(4, "2026-03-03T07:00:00Z"),
           SessionCancelled{session(4), kCounselor, kClient, kClient, "", false}});
  s.given(
      {requested(5, "2026-03-03T09:00:00Z"), SessionDeclined{session(5), kCounselor, kClient, ""}});
  s.given({requested(6, "2026-03-03T11:00:00Z"), SessionConfirmed{session(6), kCounselor, kClient},
           SessionNoShow{session(6), kCounselor, kClient}});
  s.given({requested(7, "2026-03-04T07:00:00Z", 60, kOtherClient),
           SessionConfirmed{session(7), kCounselor, kOtherClient},
           SessionCompleted{session(7), kCounselor, kOtherClient}});
  return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_client_reviews_a_completed_session) {
  auto s = with_sessions_in_every_state();
  auto e = then_single<ReviewSubmitted>(s.when_json(
      "review.submit", review_json("4", R"(,"comment":")" + std::string(kSealedComment) + "\""),
      kClientActor));
  BOOST_TEST((e == ReviewSubmitted{review(1), session(1), kCounselor, kClient, 4, kSealedComment}));
  s.given({e});
  BOOST_REQUIRE(s.state.sessions.at(session(1)).review.has_value());
  BOOST_TEST(review_view_json(s.state, session(1)) ==
             R"({"client_id":")" + kClient.value().str() + R"(","counselor_id":")" +
                 kCounselor.value().str() + R"(","id":")" + review(1).value().str() +
                 R"(","rating":4,"session_id":")" + session(1).value().str() + "\"}");
  BOOST_TEST(review_view_json(s.state, session(3)) == "null");
  BOOST_TEST(review_view_json(s.state, session(99)) == "null");
  // The comment is optional.
  auto bare = then_single<ReviewSubmitted>(
      s.when_json("review.submit",
                  R"({"review_id":")" + review(2).value().str() + R"(","session_id":")" +
                      session(7).value().str() + R"(","rating":1})",
                  kOtherClientActor));
  BOOST_TEST(bare.comment == "");
  BOOST_TEST((bare.client_id == kOtherClient));
  BOOST_TEST(handles_command("review.submit"));
}

BOOST_AUTO_TEST_CASE(only_completed_sessions_are_reviewed) {
  auto s = with_sessions_in_every_state();
  for (unsigned n : {2u, 3u, 4u, 5u, 6u})
    then_rejected(s.when(submit(1, n), kClientActor), RejectionKind::unprocessable,
                  "session_not_completed");
  // Once it is completed, it can be.
  s.given({SessionCompleted{session(3), kCounselor, kClient}});
  then_single<ReviewSubmitted>(s.when(submit(1, 3), kClientActor));
}

BOOST_AUTO_TEST_CASE(only_the_session_client_reviews) {
  auto s = with_sessions_in_every_state();
  for (const Actor& who :
       {kOtherClientActor, kCounselorActor, kOtherCounselorActor, Actor{kClient, Role::counselor},
        Actor{kClient, Role::admin}, Actor{user(900), Role::admin}, kSystem})
    then_rejected(s.when(submit(1, 1), who), RejectionKind::forbidden, "not_session_client");
  // Not this counsellor's session (another counsellor's, or none at all): not found here.
  then_rejected(s.when(submit(1, 77), kClientActor), RejectionKind::not_found, "session_not_found");
}

BOOST_AUTO_TEST_CASE(a_session_is_reviewed_once) {
  auto s = with_sessions_in_every_state();
  BOOST_REQUIRE(s.run(submit(1, 1, 5), kClientActor));
  then_rejected(s.run(submit(2, 1, 1), kClientActor), RejectionKind::conflict, "already_reviewed");
  then_rejected(s.run(submit(1, 1, 5), kClientActor), RejectionKind::conflict, "already_reviewed");
  // Other sessions keep their own review.
  then_single<ReviewSubmitted>(s.run(submit(3, 7, 2), kOtherClientActor));
  BOOST_TEST(s.state.sessions.at(session(1)).review->rating == 5);
  BOOST_TEST(s.state.sessions.at(session(7)).review->rating == 2);
}

BOOST_AUTO_TEST_CASE(a_redelivered_review_keeps_the_first) {
  auto s = with_sessions_in_every_state();
  const ReviewSubmitted first{review(1), session(1), kCounselor, kClient, 3, ""};
  const ReviewSubmitted stray{review(2), session(1), kCounselor, kClient, 5, ""};
  for (const Event& e : std::vector<Event>{first, first, stray}) {
    auto ne = encode(e);
    auto back = decode(ne.type, ne.version, doc(ne.data_json));
    BOOST_REQUIRE(back.has_value());
    evolve(s.state, *back);
  }
  const auto& kept = s.state.sessions.at(session(1)).review;
  BOOST_REQUIRE(kept.has_value());
  BOOST_TEST((kept->review_id == review(1)));
  BOOST_TEST(kept->rating == 3);
  // A review of a session this stream never saw changes nothing.
  evolve(s.state, ReviewSubmitted{review(3), session(99), kCounselor, kClient, 4, ""});
  BOOST_TEST(!s.state.sessions.contains(session(99)));
}

BOOST_AUTO_TEST_CASE(review_input_is_validated) {
  auto s = with_sessions_in_every_state();
  auto bad = [&](const std::string& data) {
    then_rejected(s.when_json("review.submit", data, kClientActor), RejectionKind::invalid,
                  "invalid_command");
  };
  for (auto rating : {"0", "6", "-1", "\"5\"", "4.5", "5.0", "null", "true", "[5]"})
    bad(review_json(rating));
  bad(R"({"review_id":")" + review(1).value().str() + R"(","session_id":")" +
      session(1).value().str() + R"("})");
  bad(R"({"session_id":")" + session(1).value().str() + R"(","rating":5})");
  bad(R"({"review_id":"nope","session_id":")" + session(1).value().str() + R"(","rating":5})");
  bad(R"({"review_id":")" + review(1).value().str() + R"(","rating":5})");
  // The comment is sealed with the client's key before it reaches the aggregate: clear text,
  // a non-string or an oversized value never becomes an event.
  bad(review_json("5", R"(,"comment":"lovely")"));
  bad(review_json("5", R"(,"comment":5)"));
  bad(review_json("5", R"(,"comment":"enc:v1:)" + std::string(kMaxReviewCommentChars, 'A') + "\""));
  bad("[]");
  // Bounds are inclusive.
  then_single<ReviewSubmitted>(s.when_json("review.submit", review_json("1"), kClientActor));
  then_single<ReviewSubmitted>(s.when_json("review.submit", review_json("5"), kClientActor));
  then_single<ReviewSubmitted>(s.when_json(
      "review.submit",
      review_json("5",
                  R"(,"comment":"enc:v1:)" + std::string(kMaxReviewCommentChars - 7, 'A') + "\""),
      kClientActor));
}

BOOST_AUTO_TEST_CASE(review_events_round_trip_with_the_catalogue_fields) {
  const ReviewSubmitted e{review(1), session(1), kCounselor, kClient, 4, kSealedComment};
  auto ne = encode(e);
  BOOST_TEST(ne.type == "review.submitted");
  BOOST_TEST(ne.version == 1);
  BOOST_TEST(ne.data_json == R"({"client_id":")" + kClient.value().str() + R"(","comment":")" +
                                 kSealedComment + R"(","counselor_id":")" +
                                 kCounselor.value().str() + R"(","rating":4,"review_id":")" +
                                 review(1).value().str() + R"(","session_id":")" +
                                 session(1).value().str() + "\"}");
  auto back = decode(ne.type, ne.version, doc(ne.data_json));
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST((*back == Event{e}));
  BOOST_TEST(!decode(ne.type, 2, doc(ne.data_json)).has_value());
  auto d = doc(ne.data_json);
  d["rating"].SetInt(9);
  BOOST_TEST(!decode(ne.type, 1, d).has_value());
  d.RemoveMember("rating");
  BOOST_TEST(!decode(ne.type, 1, d).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
