// The access aggregate: a read of someone else's data is recorded as given; malformed records,
// records on another subject's stream and reads of one's own data are refused.
#include "domain/aggregates/access.hpp"

#include <boost/test/unit_test.hpp>

#include "domain_test_support.hpp"

using namespace counsel;
using namespace counsel::access;
using counsel::test::at;
using counsel::test::doc;
using counsel::test::user;

namespace {

const UserId kSubject = user(20);
const Actor kCounselor{user(21), Role::counselor};
const Timestamp kNow = at("2026-02-23T08:00:00Z");

Expected<std::vector<Event>, Rejection> when(const State& s, const std::string& data,
                                             const Actor& actor) {
  auto d = doc(data);
  auto c = parse_command("access.record", d);
  if (!c) return unexpected(c.error());
  return decide(s, *c, actor, kNow);
}

std::string record_json(const UserId& subject, std::string_view what = "patient_record",
                        std::string_view why = "care_relationship") {
  return R"({"subject_id":")" + subject.value().str() + R"(","what":")" + std::string(what) +
         R"(","resource_id":"p_abc123","why":")" + std::string(why) + "\"}";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(access_aggregate_test)

BOOST_AUTO_TEST_CASE(records_a_read_and_round_trips) {
  State s = initial_state(kSubject);
  auto r = when(s, record_json(kSubject), kCounselor);
  BOOST_REQUIRE(r.has_value());
  BOOST_REQUIRE(r->size() == 1u);
  const auto& e = std::get<Recorded>(r->front());
  BOOST_TEST((e.subject_id == kSubject));
  BOOST_TEST(to_string(e.what) == "patient_record");
  BOOST_TEST(e.resource_id == "p_abc123");
  BOOST_TEST(to_string(e.why) == "care_relationship");
  evolve(s, r->front());
  BOOST_TEST(s.records == 1);
  auto encoded = encode(r->front());
  BOOST_TEST(encoded.type == "access.recorded");
  auto back = decode(encoded.type, 1, doc(encoded.data_json));
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST((std::get<Recorded>(*back) == e));
  BOOST_TEST(!decode(encoded.type, 2, doc(encoded.data_json)).has_value());
}

BOOST_AUTO_TEST_CASE(refuses_bad_and_misdirected_records) {
  State s = initial_state(kSubject);
  // Someone else's stream, one's own data, unknown kinds, and no stream owner at all.
  BOOST_TEST(when(s, record_json(user(22)), kCounselor).error().code == "invalid_command");
  BOOST_TEST(when(s, record_json(kSubject), Actor{kSubject, Role::client}).error().code ==
             "own_record");
  BOOST_TEST(when(s, record_json(kSubject, "diary"), kCounselor).error().code == "invalid_command");
  BOOST_TEST(when(s, record_json(kSubject, "session", "curiosity"), kCounselor).error().code ==
             "invalid_command");
  BOOST_TEST(when(initial_state(UserId{}), record_json(kSubject), kCounselor).error().code ==
             "invalid_stream");
  for (auto what : {"user_profile", "client_profile", "patient_record", "session", "chat_history"})
    BOOST_TEST(resource_from_string(what).has_value(), what);
  for (auto why : {"care_relationship", "administration", "identity_reveal", "directory"})
    BOOST_TEST(basis_from_string(why).has_value(), why);
}

BOOST_AUTO_TEST_SUITE_END()
