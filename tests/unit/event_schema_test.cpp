// Every event the aggregates produce in a scripted scenario validates against its JSON Schema
// in domain/events/schemas/ (COUNSEL_SCHEMAS_DIR). The scenario runs through the type-erased
// AggregateKind interface, like the command processor.
#include <rapidjson/error/en.h>
#include <rapidjson/schema.h>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "domain/aggregates/aggregate_kind.hpp"
#include "domain/events/envelope.hpp"
#include "domain_test_support.hpp"

#ifndef COUNSEL_SCHEMAS_DIR
#error "COUNSEL_SCHEMAS_DIR must name domain/events/schemas"
#endif

using namespace counsel;
using counsel::test::at;
using counsel::test::doc;
using counsel::test::nth_uuid;
using counsel::test::user;

namespace {

const std::vector<std::string> kEventTypes{"account.registered",
                                           "account.password_changed",
                                           "account.password_reset_requested",
                                           "account.logged_in",
                                           "account.login_failed",
                                           "account.verified",
                                           "account.suspended",
                                           "account.reinstated",
                                           "account.two_factor_enabled",
                                           "account.recovery_code_used",
                                           "account.client_profile_updated",
                                           "account.identity_revealed",
                                           "account.erasure_requested",
                                           "account.erasure_rejected",
                                           "account.erased",
                                           "counselor.verified",
                                           "counselor.suspended",
                                           "counselor.reinstated",
                                           "counselor.profile_updated",
                                           "counselor.availability_set",
                                           "session.requested",
                                           "session.confirmed",
                                           "session.declined",
                                           "session.cancelled",
                                           "session.completed",
                                           "session.no_show",
                                           "review.submitted",
                                           "patient.created",
                                           "patient.updated",
                                           "patient.deleted",
                                           "patient.tag_added",
                                           "patient.tag_removed",
                                           "patient.session_added",
                                           "patient.wallet_updated",
                                           "room.opened",
                                           "chat.message_sent",
                                           "chat.messages_read",
                                           "access.recorded"};

// Types written at a later version than 1: the aggregates write that one, the earlier versions
// stay in the log (immutable), keep their schemas and still decode.
const std::map<std::string, int> kLatestVersions{{"session.declined", 2},
                                                 {"session.cancelled", 2},
                                                 {"patient.created", 2},
                                                 {"patient.updated", 2},
                                                 {"patient.session_added", 2}};

int latest_version(const std::string& type) {
  auto it = kLatestVersions.find(type);
  return it == kLatestVersions.end() ? 1 : it->second;
}

std::string schema_file(const std::string& type, int version) {
  return type + ".v" + std::to_string(version) + ".json";
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  BOOST_REQUIRE_MESSAGE(in.good(), "cannot read " << p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Schemas {
  // By file name: every version of every type ("session.cancelled.v2.json").
  std::map<std::string, std::unique_ptr<rapidjson::SchemaDocument>> by_file;
  Schemas() {
    for (auto& t : kEventTypes) {
      for (int version = 1; version <= latest_version(t); ++version) {
        auto path = std::filesystem::path(COUNSEL_SCHEMAS_DIR) / schema_file(t, version);
        rapidjson::Document d;
        auto text = read_file(path);
        d.Parse(text.c_str());
        BOOST_REQUIRE_MESSAGE(!d.HasParseError(),
                              path << ": " << rapidjson::GetParseError_En(d.GetParseError()));
        by_file[schema_file(t, version)] = std::make_unique<rapidjson::SchemaDocument>(d);
      }
    }
  }
  const rapidjson::SchemaDocument& at(const std::string& type, int version) const {
    return *by_file.at(schema_file(type, version));
  }
  // Empty string when valid, else what failed.
  std::string validate(const EventEnvelope& e) const {
    auto it = by_file.find(schema_file(e.type, e.version));
    if (it == by_file.end()) return "no schema for " + e.type + " v" + std::to_string(e.version);
    return validate_text(*it->second, encode_event(e));
  }
  static std::string validate_text(const rapidjson::SchemaDocument& schema,
                                   const std::string& text) {
    rapidjson::Document d;
    d.Parse(text.c_str());
    if (d.HasParseError()) return "unparseable event";
    rapidjson::SchemaValidator v(schema);
    if (d.Accept(v)) return "";
    rapidjson::StringBuffer where, rule;
    v.GetInvalidSchemaPointer().StringifyUriFragment(rule);
    v.GetInvalidDocumentPointer().StringifyUriFragment(where);
    return std::string("invalid at ") + where.GetString() + " (schema " + rule.GetString() +
           ", keyword " + v.GetInvalidSchemaKeyword() + ")";
  }
};

// The processor's loop in miniature: decide through the kind, seal, evolve, collect.
struct Log {
  std::map<std::string, std::unique_ptr<AggregateState>> states;
  std::map<std::string, int64_t> sequences;
  std::vector<EventEnvelope> events;
  std::string last_hash;
  unsigned next_id = 0;

  Expected<std::vector<NewEvent>, Rejection> send(const std::string& stream, std::string_view type,
                                                  std::string_view data, const Actor& actor,
                                                  Timestamp now) {
    const AggregateKind* kind = aggregate_kind_for_stream(stream);
    BOOST_REQUIRE(kind != nullptr);
    BOOST_REQUIRE_MESSAGE(kind->handles(type), type);
    auto& state = states[stream];
    if (!state) state = kind->initial(stream);
    auto d = doc(data);
    CommandInput input{type, d, actor, now};
    auto decided = kind->decide(*state, input);
    if (!decided) return decided;
    for (auto& ne : *decided) {
      EventEnvelope e;
      e.id = EventId{nth_uuid(++next_id, 30)};
      e.type = ne.type;
      e.version = ne.version;
      e.stream = stream;
      e.sequence = ++sequences[stream];
      e.partition = 5;
      e.occurred_at = now;
      e.actor = actor;
      e.command_id = CommandId{nth_uuid(next_id, 31)};
      e.correlation_id = CorrelationId{nth_uuid(next_id, 32)};
      e.data_json = ne.data_json;
      seal_event(e, last_hash);
      last_hash = e.hash;
      kind->evolve(*state, e);
      events.push_back(e);
    }
    last_body = kind->result_body(*state, input);
    return decided;
  }
  std::string last_body;
};

std::string registration(const UserId& id, std::string_view role) {
  return R"({"user_id":")" + id.value().str() + R"(","role":")" + std::string(role) +
         R"(","email":"enc:v1:ZW1haWw=","email_hash":")" + std::string(64, 'e') +
         R"(","display_name":"enc:v1:bmFtZQ==","password_hash":"enc:v1:aGFzaA=="})";
}

std::string booking(unsigned n, const UserId& client, std::string_view start,
                    std::string_view topic) {
  return R"({"session_id":")" + test::session(n).value().str() + R"(","client_id":")" +
         client.value().str() + R"(","start":")" + std::string(start) +
         R"(","duration_minutes":50,"mode":"video","topic":")" + std::string(topic) + "\"}";
}

std::string session_ref(unsigned n, std::string_view reason = "") {
  return R"({"session_id":")" + test::session(n).value().str() + R"(","reason":")" +
         std::string(reason) + "\"}";
}

std::string patient_record(const UserId& owner) {
  return R"({"patient_id":"p_abc123","owner_id":")" + owner.value().str() +
         R"(","first_name":"enc:v1:Zg==","last_name":"enc:v1:bA==","phone_no":"enc:v1:cA==",
            "email":"","ssn":"enc:v1:cw==","address":"","allergies_and_medication":"enc:v1:YQ==",
            "date_of_birth":"enc:v1:ZA==","added_note":"","about_note":"enc:v1:bg==",
            "password_hash":"enc:v1:aA==","sex":"F","profile_picture":"https://example.org/p.png",
            "tags":["new"],"sessions":[{"session_id":"s1"}],"wallet_balance_cents":1050})";
}

// Runs the scripted scenario and returns the log.
Log scenario() {
  Log log;
  const UserId counselor = user(1), client = user(2), admin = user(3);
  const Actor as_counselor{counselor, Role::counselor}, as_client{client, Role::client};
  const Actor as_system{UserId{}, Role::system};
  const Timestamp now = at("2026-02-23T08:00:00Z");
  auto ok = [](const Expected<std::vector<NewEvent>, Rejection>& r) {
    BOOST_REQUIRE_MESSAGE(r.has_value(),
                          "rejected: " << (r ? "" : r.error().code + " " + r.error().message));
  };
  const auto cs = counselor_stream(counselor);
  ok(log.send(account_stream(counselor), "account.register", registration(counselor, "counselor"),
              as_counselor, now));
  ok(log.send(account_stream(client), "account.register", registration(client, "client"), as_client,
              now));
  ok(log.send(account_stream(admin), "account.register", registration(admin, "compliance"),
              as_system, now));
  ok(log.send(account_stream(client), "account.change_password",
              R"({"user_id":")" + client.value().str() + R"(","password_hash":"enc:v1:bmV3"})",
              as_client, now));
  {
    const auto ac = account_stream(client);
    const std::string id = R"({"user_id":")" + client.value().str() + "\"";
    const std::string hash_a(64, 'a'), hash_b(64, 'b');
    const Actor as_admin{UserId{nth_uuid(77)}, Role::admin};
    ok(log.send(ac, "account.request_password_reset",
                id + R"(,"expires_at":"2026-02-23T08:30:00.000Z"})", as_system, now));
    ok(log.send(ac, "account.record_login_failure", id + R"(,"reason":"invalid_password"})",
                as_system, now));
    ok(log.send(ac, "account.record_login", id + R"(,"second_factor":"none"})", as_client, now));
    ok(log.send(ac, "account.enable_two_factor",
                id + R"(,"totp_secret":"enc:v1:c2VjcmV0","recovery_code_hashes":[")" + hash_a +
                    R"(",")" + hash_b + R"("]})",
                as_client, now));
    ok(log.send(ac, "account.use_recovery_code", id + R"(,"code_hash":")" + hash_a + R"("})",
                as_client, now));
    ok(log.send(
        ac, "account.update_client_profile",
        id + R"(,"picture_url":"","bio":"enc:v1:YmlvJw==","address":"","preferences":"enc:v1:e30=",
                    "preferred_language":"zu","anonymous":true,"alias":"enc:v1:YWxpYXM="})",
        as_client, now));
    ok(log.send(ac, "account.record_identity_reveal", id + R"(,"reason":"enc:v1:Y291cnQ="})",
                as_admin, now));
    ok(log.send(ac, "account.verify", id + "}", as_admin, now));
    ok(log.send(ac, "account.suspend", id + R"(,"reason":"enc:v1:YWJ1c2U="})", as_admin, now));
    ok(log.send(ac, "account.reinstate", id + "}", as_admin, now));
    ok(log.send(cs, "counselor.verify", "{}", as_admin, now));
    ok(log.send(cs, "counselor.suspend", "{}", as_admin, now));
    ok(log.send(cs, "counselor.reinstate", "{}", as_system, now));
  }
  ok(log.send(
      cs, "counselor.update_profile",
      R"({"specialties":["anxiety","trauma"],"languages":["en","af"],"level":"senior","bio":"Twenty years.","credentials":"HPCSA PS 0123456"})",
      as_counselor, now));
  ok(log.send(cs, "counselor.set_availability",
              R"({"time_zone":"Africa/Johannesburg","buffer_minutes":10,"min_notice_minutes":60,
                  "weekly":[{"day":"mon","start":"09:00","end":"13:00"},{"day":"mon","start":"14:00","end":"17:00"},
                            {"day":"tue","start":"09:00","end":"17:00"}],
                  "overrides":[{"date":"2026-03-09","unavailable":true},
                               {"date":"2026-03-10","windows":[{"start":"10:00","end":"12:00"}]}]})",
              as_counselor, now));
  ok(log.send(cs, "session.request", booking(1, client, "2026-03-02T07:00:00Z", "enc:v1:dG9waWM="),
              as_client, now));
  ok(log.send(cs, "session.confirm", session_ref(1), as_counselor, now));
  ok(log.send(cs, "session.complete", session_ref(1), as_counselor, now));
  ok(log.send(cs, "review.submit",
              R"({"review_id":")" + nth_uuid(1, 40).str() + R"(","session_id":")" +
                  test::session(1).value().str() + R"(","rating":4,"comment":"enc:v1:Z29vZA=="})",
              as_client, now));
  ok(log.send(cs, "session.request", booking(2, client, "2026-03-02T08:00:00Z", ""), as_client,
              now));
  ok(log.send(cs, "session.decline", session_ref(2, "enc:v1:bm90IG15IGZpZWxk"), as_counselor, now));
  ok(log.send(cs, "session.request", booking(3, client, "2026-03-02T12:00:00Z", ""), as_client,
              now));
  ok(log.send(cs, "session.confirm", session_ref(3), as_counselor, now));
  ok(log.send(cs, "session.cancel", session_ref(3, "enc:v1:c2ljaw=="), as_client,
              at("2026-03-02T06:00:00Z")));  // late
  ok(log.send(cs, "session.request", booking(4, client, "2026-03-03T07:00:00Z", ""), as_client,
              now));
  ok(log.send(cs, "session.confirm", session_ref(4), as_counselor, now));
  ok(log.send(cs, "session.mark_no_show", session_ref(4), as_counselor, now));
  ok(log.send(cs, "session.request", booking(5, client, "2026-03-03T09:00:00Z", ""), as_client,
              now));
  ok(log.send(cs, "session.cancel", session_ref(5), as_counselor, now));
  const std::string ps = "patient-p_abc123";
  ok(log.send(ps, "patient.create", patient_record(client), as_client, now));
  ok(log.send(ps, "patient.update", R"({"first_name":"enc:v1:Rg==","email":"enc:v1:ZQ==",
                  "sex":"O","tags":["a","b"],
                  "sessions":[{"session_id":"s1","details":"enc:v1:eyJkYXRlIjoiMjAyNi0wMy0wMSJ9"}]})",
              as_client, now));
  ok(log.send(ps, "patient.add_tag", R"({"tag":"anxiety"})", as_counselor, now));
  ok(log.send(ps, "patient.remove_tag", R"({"tag":"a"})", as_client, now));
  ok(log.send(ps, "patient.add_session",
              R"({"session":{"session_id":"s2","details":"enc:v1:eyJub3RlIjoieCJ9"}})",
              as_counselor, now));
  ok(log.send(ps, "patient.update_wallet", R"({"amount_cents":-50})", as_client, now));
  ok(log.send(ps, "patient.delete", "{}", as_client, now));
  {
    const std::string room_id = nth_uuid(1, 50).str(), rs = "room-" + room_id;
    const std::string message = nth_uuid(1, 51).str();
    ok(log.send(rs, "room.open",
                R"({"room_id":")" + room_id + R"(","participants":[")" + client.value().str() +
                    R"(",")" + counselor.value().str() + R"("],"session_id":")" +
                    test::session(1).value().str() + R"("})",
                as_client, now));
    ok(log.send(rs, "chat.send_message",
                R"({"message_id":")" + message + R"(","sender_id":")" + client.value().str() +
                    R"(","content":"enc:v1:aGVsbG8=","message_type":"text"})",
                as_client, now));
    ok(log.send(rs, "chat.mark_read",
                R"({"user_id":")" + counselor.value().str() + R"(","up_to":")" + message + "\"}",
                as_counselor, now));
  }
  {
    // The counsellor read their client's chat history.
    ok(log.send("access-" + client.value().str(), "access.record",
                R"({"subject_id":")" + client.value().str() +
                    R"(","what":"chat_history","resource_id":"room-1","why":"care_relationship"})",
                as_counselor, now));
  }
  {
    // A client with clinical records asks to be erased; an admin declines, then approves.
    const UserId leaving = user(4);
    const Actor as_leaving{leaving, Role::client}, as_admin{user(5), Role::admin};
    const auto ls = account_stream(leaving);
    const std::string id = R"({"user_id":")" + leaving.value().str() + "\"";
    ok(log.send(ls, "account.register", registration(leaving, "client"), as_leaving, now));
    ok(log.send(ls, "account.request_erasure", id + R"(,"grounds":"clinical_records"})", as_leaving,
                now));
    ok(log.send(ls, "account.reject_erasure", id + "}", as_admin, now));
    ok(log.send(ls, "account.request_erasure", id + R"(,"grounds":"clinical_records"})", as_leaving,
                now));
    ok(log.send(ls, "account.erase", id + R"(,"approved_by":")" + user(5).value().str() + "\"}",
                as_admin, now));
  }
  return log;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(event_schema_test)

BOOST_AUTO_TEST_CASE(every_schema_file_is_listed_and_loads) {
  Schemas schemas;
  size_t versions = 0;
  for (auto& t : kEventTypes) versions += static_cast<size_t>(latest_version(t));
  BOOST_TEST(schemas.by_file.size() == versions);
  for (auto& [t, latest] : kLatestVersions)
    BOOST_TEST((std::find(kEventTypes.begin(), kEventTypes.end(), t) != kEventTypes.end()), t);
  std::set<std::string> files;
  for (auto& entry : std::filesystem::directory_iterator(COUNSEL_SCHEMAS_DIR))
    if (entry.path().extension() == ".json") files.insert(entry.path().filename().string());
  for (auto& t : kEventTypes)
    for (int version = 1; version <= latest_version(t); ++version)
      BOOST_TEST(files.count(schema_file(t, version)) == 1u, t << " v" << version);
  auto readme = read_file(std::filesystem::path(COUNSEL_SCHEMAS_DIR) / "README.md");
  for (auto& f : files)
    BOOST_TEST(readme.find(f) != std::string::npos, f << " missing from README");
}

BOOST_AUTO_TEST_CASE(every_produced_event_validates) {
  Schemas schemas;
  auto log = scenario();
  std::set<std::string> seen;
  for (auto& e : log.events) {
    seen.insert(e.type);
    BOOST_TEST(e.version == latest_version(e.type), e.type << " written at v" << e.version);
    auto problem = schemas.validate(e);
    BOOST_TEST(problem.empty(), e.type << ": " << problem << "\n" << encode_event(e));
  }
  for (auto& t : kEventTypes) BOOST_TEST(seen.count(t) == 1u, "scenario never produced " << t);
}

BOOST_AUTO_TEST_CASE(the_scenario_chain_verifies_and_replays) {
  auto log = scenario();
  std::string prev;
  for (auto& e : log.events) {
    auto back = decode_event(encode_event(e));
    BOOST_REQUIRE(back.has_value());
    BOOST_TEST(back->prev_hash == prev);
    BOOST_TEST(compute_event_hash(*back) == back->hash);
    prev = back->hash;
  }
  // Rebuilding from the encoded events gives the same views.
  const auto cs = counselor_stream(user(1));
  const AggregateKind* kind = aggregate_kind_for_stream(cs);
  auto rebuilt = kind->initial(cs);
  for (auto& e : log.events)
    if (e.stream == cs) kind->evolve(*rebuilt, *decode_event(encode_event(e)));
  const Actor as_client{user(2), Role::client};
  for (unsigned n = 1; n <= 5; ++n) {
    auto ref = doc(session_ref(n));
    CommandInput input{"session.confirm", ref, as_client, at("2026-02-23T08:00:00Z")};
    BOOST_TEST(kind->result_body(*rebuilt, input) == kind->result_body(*log.states[cs], input));
  }
  auto third =
      doc(kind->result_body(*rebuilt, CommandInput{"session.cancel", doc(session_ref(3)), as_client,
                                                   at("2026-02-23T08:00:00Z")}));
  BOOST_TEST(json::get_string(third, "status").value() == "cancelled");
  BOOST_TEST(json::get_bool(third, "late_cancellation").value());
}

BOOST_AUTO_TEST_CASE(aggregate_kinds_route_by_stream_prefix) {
  BOOST_TEST(all_aggregate_kinds().size() == 5u);
  auto* access = aggregate_kind_for_stream("access-" + nth_uuid(1, 51).str());
  BOOST_REQUIRE(access != nullptr);
  BOOST_TEST(access->handles("access.record"));
  auto* patient = aggregate_kind_for_stream("patient-p_abc123");
  BOOST_REQUIRE(patient != nullptr);
  BOOST_TEST(patient->stream_prefix() == "patient-");
  BOOST_TEST(patient->handles("patient.update_wallet"));
  auto* account = aggregate_kind_for_stream(account_stream(user(1)));
  auto* counselor = aggregate_kind_for_stream(counselor_stream(user(1)));
  BOOST_REQUIRE(account != nullptr);
  BOOST_REQUIRE(counselor != nullptr);
  BOOST_TEST(account->stream_prefix() == "account-");
  BOOST_TEST(counselor->stream_prefix() == "counselor-");
  BOOST_TEST(aggregate_kind_for_stream("chatroom-123") == nullptr);
  auto* room = aggregate_kind_for_stream("room-" + nth_uuid(1, 50).str());
  BOOST_REQUIRE(room != nullptr);
  BOOST_TEST(room->stream_prefix() == "room-");
  for (auto t : {"room.open", "chat.send_message", "chat.mark_read"})
    BOOST_TEST(room->handles(t), t);
  BOOST_TEST(account->handles("account.register"));
  BOOST_TEST(!account->handles("session.request"));
  for (auto t : {"counselor.update_profile", "counselor.set_availability", "session.request",
                 "session.confirm", "session.decline", "session.complete", "session.mark_no_show",
                 "session.cancel"})
    BOOST_TEST(counselor->handles(t), t);
  // Unknown event types are ignored by evolve.
  auto state = counselor->initial(counselor_stream(user(1)));
  EventEnvelope stray;
  stray.type = "counselor.reviewed";
  stray.data_json = "{}";
  counselor->evolve(*state, stray);
  // A stream whose key is not a UUID cannot take commands.
  auto broken = counselor->initial("counselor-oops");
  auto data = doc(R"({"specialties":["a"],"languages":["en"],"level":"x","bio":""})");
  const Actor sys{UserId{}, Role::system};
  auto r =
      counselor->decide(*broken, CommandInput{"counselor.update_profile", data, sys, Timestamp{}});
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code == "invalid_stream");
}

BOOST_AUTO_TEST_CASE(result_bodies_show_the_resource) {
  Log log;
  const UserId counselor = user(1), client = user(2);
  const Actor as_counselor{counselor, Role::counselor}, as_client{client, Role::client};
  const Timestamp now = at("2026-02-23T08:00:00Z");
  BOOST_REQUIRE(log.send(account_stream(client), "account.register", registration(client, "client"),
                         as_client, now));
  auto account = doc(log.last_body);
  BOOST_TEST(json::get_string(account, "role").value() == "client");
  BOOST_TEST(json::get_string(account, "id").value() == client.value().str());
  BOOST_TEST(log.last_body.find("password") == std::string::npos);

  const auto cs = counselor_stream(counselor);
  BOOST_REQUIRE(log.send(cs, "counselor.update_profile",
                         R"({"specialties":["a"],"languages":["en"],"level":"x","bio":"b"})",
                         as_counselor, now));
  BOOST_TEST(json::get_string(doc(log.last_body), "level").value() == "x");
  BOOST_REQUIRE(
      log.send(cs, "counselor.set_availability",
               R"({"time_zone":"UTC","weekly":[{"day":"mon","start":"08:00","end":"12:00"}]})",
               as_counselor, now));
  BOOST_TEST(json::get_string(doc(log.last_body), "time_zone").value() == "UTC");
  BOOST_REQUIRE(log.send(cs, "counselor.verify", "{}", Actor{UserId{}, Role::system}, now));
  BOOST_TEST(json::get_bool(doc(log.last_body), "verified").value());
  BOOST_REQUIRE(log.send(cs, "session.request", booking(1, client, "2026-03-02T08:00:00Z", ""),
                         as_client, now));
  BOOST_TEST(json::get_string(doc(log.last_body), "status").value() == "requested");
  BOOST_REQUIRE(log.send(cs, "session.confirm", session_ref(1), as_counselor, now));
  BOOST_TEST(json::get_string(doc(log.last_body), "status").value() == "confirmed");
  // A rejection leaves no events behind.
  auto before = log.events.size();
  auto r = log.send(cs, "session.request", booking(2, client, "2026-03-02T08:00:00Z", ""),
                    as_client, now);
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code == "slot_unavailable");
  BOOST_TEST(log.events.size() == before);
  // A review answers with the review.
  BOOST_REQUIRE(log.send(cs, "session.complete", session_ref(1), as_counselor, now));
  const auto review_id = nth_uuid(1, 40).str();
  BOOST_REQUIRE(log.send(cs, "review.submit",
                         R"({"review_id":")" + review_id + R"(","session_id":")" +
                             test::session(1).value().str() + R"(","rating":5})",
                         as_client, now));
  auto reviewed = doc(log.last_body);
  BOOST_TEST(json::get_string(reviewed, "id").value() == review_id);
  BOOST_TEST(json::get_int(reviewed, "rating").value() == 5);
}

// session.declined and session.cancelled v1, with their clear-text reason, are still in the log:
// their schemas still accept them and the aggregate still reads them (upcast to the v2 structs).
BOOST_AUTO_TEST_CASE(v1_events_with_clear_reasons_still_validate_and_replay) {
  Schemas schemas;
  auto log = scenario();
  const auto cs = counselor_stream(user(1));
  const AggregateKind* kind = aggregate_kind_for_stream(cs);
  auto rebuilt = kind->initial(cs);
  for (auto e : log.events) {
    if (e.stream != cs) continue;
    if (e.type == "session.declined" || e.type == "session.cancelled") {
      BOOST_TEST(e.version == 2);
      auto d = doc(e.data_json);
      BOOST_TEST((std::string(d["reason"].GetString()).rfind("enc:v1:", 0) == 0 ||
                  d["reason"].GetStringLength() == 0),
                 e.type << ": " << e.data_json);
      d["reason"].SetString(
          rapidjson::StringRef(e.type == "session.declined" ? "not my field" : "sick"));
      e.data_json = json::canonical(d);
      e.version = 1;
      auto problem = Schemas::validate_text(schemas.at(e.type, 1), encode_event(e));
      BOOST_TEST(problem.empty(), e.type << " v1: " << problem);
    }
    kind->evolve(*rebuilt, *decode_event(encode_event(e)));
  }
  const Actor as_client{user(2), Role::client};
  auto view = [&](unsigned n) {
    return doc(kind->result_body(*rebuilt, CommandInput{"session.confirm", doc(session_ref(n)),
                                                        as_client, at("2026-02-23T08:00:00Z")}));
  };
  auto declined = view(2);
  BOOST_TEST(json::get_string(declined, "status").value() == "declined");
  BOOST_TEST(json::get_string(declined, "cancellation_reason").value() == "not my field");
  auto cancelled = view(3);
  BOOST_TEST(json::get_string(cancelled, "status").value() == "cancelled");
  BOOST_TEST(json::get_string(cancelled, "cancellation_reason").value() == "sick");
  BOOST_TEST(json::get_bool(cancelled, "late_cancellation").value());
}

// patient.created, patient.updated and patient.session_added v1, with their session entries in
// clear text, are still in the log: their schemas still accept them, v2's do not, and the
// aggregate still reads them as logged.
BOOST_AUTO_TEST_CASE(v1_patient_events_with_clear_sessions_still_validate_and_replay) {
  Schemas schemas;
  auto log = scenario();
  const std::string ps = "patient-p_abc123";
  const AggregateKind* kind = aggregate_kind_for_stream(ps);
  auto sealed = kind->initial(ps);
  auto clear = kind->initial(ps);
  const std::map<std::string, std::pair<const char*, const char*>> clear_sessions{
      {"patient.created", {"sessions", R"([{"session_id":"s1","date":"2026-03-01"}])"}},
      {"patient.updated", {"sessions", R"([{"notes":"client disclosed","session_id":"s1"}])"}},
      {"patient.session_added", {"session", R"({"note":"x","session_id":"s2"})"}}};
  for (auto e : log.events) {
    if (e.stream != ps) continue;
    kind->evolve(*sealed, *decode_event(encode_event(e)));
    if (auto it = clear_sessions.find(e.type); it != clear_sessions.end()) {
      BOOST_TEST(e.version == 2);
      auto d = doc(e.data_json);
      auto& a = d.GetAllocator();
      const auto& [member, value] = it->second;
      d[member].CopyFrom(doc(value), a);
      e.data_json = json::canonical(d);
      e.version = 1;
      auto problem = Schemas::validate_text(schemas.at(e.type, 1), encode_event(e));
      BOOST_TEST(problem.empty(), e.type << " v1: " << problem);
      BOOST_TEST(!Schemas::validate_text(schemas.at(e.type, 2), encode_event(e)).empty(),
                 e.type << ": clear session entries under the v2 schema");
    }
    kind->evolve(*clear, *decode_event(encode_event(e)));
  }
  const Actor as_client{user(2), Role::client};
  const CommandInput input{"patient.update", doc("{}"), as_client, at("2026-02-23T08:00:00Z")};
  auto sessions_of = [&](const AggregateState& state) {
    auto view = doc(kind->result_body(state, input));
    return json::canonical(view["sessions"]);
  };
  // Sealed entries show their ids only; v1's clear ones as logged.
  BOOST_TEST(sessions_of(*sealed) == R"([{"session_id":"s1"},{"session_id":"s2"}])");
  BOOST_TEST(sessions_of(*clear) ==
             R"([{"notes":"client disclosed","session_id":"s1"},{"note":"x","session_id":"s2"}])");
}

BOOST_AUTO_TEST_CASE(schemas_refuse_wrong_events) {
  Schemas schemas;
  auto log = scenario();
  auto find = [&](std::string_view type) -> const EventEnvelope& {
    for (auto& e : log.events)
      if (e.type == type) return e;
    BOOST_FAIL("no event " << type);
    return log.events.front();
  };
  auto invalid = [&](EventEnvelope e, std::string_view why) {
    BOOST_TEST(!schemas.validate(e).empty(), why);
  };
  // A data field missing, an extra one, a wrong type, plaintext where ciphertext belongs.
  auto requested = find("session.requested");
  {
    auto d = doc(requested.data_json);
    d.RemoveMember("mode");
    auto e = requested;
    e.data_json = json::canonical(d);
    invalid(e, "missing mode");
  }
  {
    auto d = doc(requested.data_json);
    d.AddMember("price", 100, d.GetAllocator());
    auto e = requested;
    e.data_json = json::canonical(d);
    invalid(e, "extra member");
  }
  {
    auto d = doc(requested.data_json);
    d["duration_minutes"].SetString("fifty");
    auto e = requested;
    e.data_json = json::canonical(d);
    invalid(e, "duration as a string");
  }
  {
    auto d = doc(requested.data_json);
    d["topic"].SetString("I feel anxious");
    auto e = requested;
    e.data_json = json::canonical(d);
    invalid(e, "plaintext topic");
  }
  {
    auto registered = find("account.registered");
    auto d = doc(registered.data_json);
    d["email"].SetString("someone@example.org");
    registered.data_json = json::canonical(d);
    invalid(registered, "plaintext email");
  }
  {
    auto reviewed = find("review.submitted");
    auto d = doc(reviewed.data_json);
    d["comment"].SetString("Very kind and helpful");
    reviewed.data_json = json::canonical(d);
    invalid(reviewed, "plaintext review comment");
    d["comment"].SetString("");
    d["rating"].SetInt(6);
    reviewed.data_json = json::canonical(d);
    invalid(reviewed, "rating above 5");
  }
  {
    auto sent = find("chat.message_sent");
    auto d = doc(sent.data_json);
    d["content"].SetString("I could not sleep again");
    sent.data_json = json::canonical(d);
    invalid(sent, "plaintext chat message");
    d["content"].SetString("enc:v1:aGVsbG8=");
    d["message_type"].SetString("image");
    sent.data_json = json::canonical(d);
    invalid(sent, "message type other than text");
  }
  for (const char* type : {"session.cancelled", "session.declined"}) {
    auto e = find(type);
    auto d = doc(e.data_json);
    d["reason"].SetString("My depression got worse");
    e.data_json = json::canonical(d);
    invalid(e, std::string("plaintext reason in ") + type);
  }
  // A patient record's session entries: the id in clear, everything else sealed in details.
  {
    auto created = find("patient.created");
    BOOST_TEST(created.version == 2);
    for (const char* entry : {R"({"session_id":"s1","notes":"client disclosed"})",
                              R"({"session_id":"s1","details":"client disclosed"})",
                              R"({"session_id":"s1","details":{"notes":"client disclosed"}})",
                              R"({"notes":"client disclosed"})"}) {
      auto e = created;
      auto d = doc(e.data_json);
      auto& a = d.GetAllocator();
      d["sessions"].Clear();
      d["sessions"].PushBack(json::Value(doc(entry), a), a);
      e.data_json = json::canonical(d);
      invalid(e, std::string("patient.created with the session entry ") + entry);
    }
    auto updated = find("patient.updated");
    auto d = doc(updated.data_json);
    BOOST_REQUIRE(d.HasMember("sessions"));
    d["sessions"][0]["details"].SetString("{\"date\":\"2026-03-01\"}");
    updated.data_json = json::canonical(d);
    invalid(updated, "patient.updated with clear session details");
    auto added = find("patient.session_added");
    auto a = doc(added.data_json);
    a["session"].AddMember("notes", "client disclosed", a.GetAllocator());
    added.data_json = json::canonical(a);
    invalid(added, "patient.session_added with a clear member");
  }
  // Envelope problems.
  {
    auto e = requested;
    e.type = "session.confirmed";
    BOOST_TEST(
        !Schemas::validate_text(schemas.at("session.requested", 1), encode_event(e)).empty());
  }
  {
    auto e = requested;
    e.stream = account_stream(user(1));
    invalid(e, "wrong stream kind");
  }
  {
    auto e = requested;
    e.version = 2;
    BOOST_TEST(
        !Schemas::validate_text(schemas.at("session.requested", 1), encode_event(e)).empty());
    auto cancelled = find("session.cancelled");
    BOOST_TEST(cancelled.version == 2);
    cancelled.version = 1;
    BOOST_TEST(!Schemas::validate_text(schemas.at("session.cancelled", 2), encode_event(cancelled))
                    .empty(),
               "a v1 event under the v2 schema");
  }
  {
    auto e = requested;
    e.hash = "xyz";
    invalid(e, "bad hash");
  }
  {
    auto e = requested;
    e.sequence = 0;
    invalid(e, "sequence starts at 1");
  }
}

BOOST_AUTO_TEST_SUITE_END()
