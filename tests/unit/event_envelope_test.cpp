// The event envelope codec and the per-partition hash chain (DESIGN.md, "Events").
#include "domain/events/envelope.hpp"

#include <boost/test/unit_test.hpp>

#include "domain_test_support.hpp"

using namespace counsel;
using counsel::test::at;
using counsel::test::nth_uuid;
using counsel::test::user;

namespace {

EventEnvelope make_event(unsigned n, std::string_view data = R"({"b":1,"a":"x"})") {
  EventEnvelope e;
  e.id = EventId{nth_uuid(n, 20)};
  e.type = "session.confirmed";
  e.version = 1;
  e.stream = counselor_stream(user(1));
  e.sequence = n + 1;
  e.partition = 3;
  e.occurred_at = at("2026-03-02T08:00:00.123Z") + std::chrono::seconds{n};
  e.actor = Actor{user(1), Role::counselor};
  e.command_id = CommandId{nth_uuid(n, 21)};
  e.correlation_id = CorrelationId{nth_uuid(n, 22)};
  e.data_json = json::canonical(test::doc(data));
  return e;
}

std::vector<EventEnvelope> sealed_chain(unsigned count) {
  std::vector<EventEnvelope> out;
  std::string prev;
  for (unsigned i = 0; i < count; ++i) {
    auto e = make_event(
        i, R"({"session_id":"s)" + std::to_string(i) + R"(","n":)" + std::to_string(i) + "}");
    seal_event(e, prev);
    prev = e.hash;
    out.push_back(e);
  }
  return out;
}

// What `counsel audit verify` does: recompute every hash and follow the links.
// Returns the index of the first bad event, or -1.
int first_broken_link(const std::vector<std::string>& encoded) {
  std::string prev;
  for (size_t i = 0; i < encoded.size(); ++i) {
    auto e = decode_event(encoded[i]);
    if (!e) return static_cast<int>(i);
    if (e->prev_hash != prev || compute_event_hash(*e) != e->hash) return static_cast<int>(i);
    prev = e->hash;
  }
  return -1;
}

std::vector<std::string> encode_all(const std::vector<EventEnvelope>& events) {
  std::vector<std::string> out;
  for (auto& e : events) out.push_back(encode_event(e));
  return out;
}

void expect_same(const EventEnvelope& a, const EventEnvelope& b) {
  BOOST_TEST((a.id == b.id));
  BOOST_TEST(a.type == b.type);
  BOOST_TEST(a.version == b.version);
  BOOST_TEST(a.stream == b.stream);
  BOOST_TEST(a.sequence == b.sequence);
  BOOST_TEST(a.partition == b.partition);
  BOOST_TEST((a.occurred_at == b.occurred_at));
  BOOST_TEST((a.actor == b.actor));
  BOOST_TEST((a.command_id == b.command_id));
  BOOST_TEST((a.correlation_id == b.correlation_id));
  BOOST_TEST(a.prev_hash == b.prev_hash);
  BOOST_TEST(a.hash == b.hash);
  BOOST_TEST(a.data_json == b.data_json);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(event_envelope_test)

BOOST_AUTO_TEST_CASE(encode_decode_round_trip) {
  auto e = make_event(4);
  seal_event(e, std::string(64, 'c'));
  auto text = encode_event(e);
  // The writer's output is already canonical (sorted keys, no whitespace).
  BOOST_TEST(text == json::canonical(test::doc(text)));
  BOOST_TEST(text.find(R"("occurred_at":"2026-03-02T08:00:04.123Z")") != std::string::npos);
  BOOST_TEST(text.find(R"("data":{"a":"x","b":1})") != std::string::npos);
  auto back = decode_event(text);
  BOOST_REQUIRE(back.has_value());
  expect_same(*back, e);
  BOOST_TEST(encode_event(*back) == text);
  BOOST_TEST(compute_event_hash(*back) == e.hash);
}

BOOST_AUTO_TEST_CASE(decoding_recanonicalizes_data) {
  auto e = make_event(1);
  seal_event(e, "");
  auto text = encode_event(e);
  // The same event with its data members written in another order and with whitespace.
  auto reordered = text;
  reordered.replace(reordered.find(R"({"a":"x","b":1})"), 15, R"({ "b" : 1, "a" : "x" })");
  auto back = decode_event(reordered);
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->data_json == e.data_json);
  BOOST_TEST(compute_event_hash(*back) == e.hash);
}

BOOST_AUTO_TEST_CASE(malformed_envelopes_are_refused) {
  auto e = make_event(1);
  seal_event(e, "");
  auto good = encode_event(e);
  std::string error;
  BOOST_TEST(!decode_event("not json", &error).has_value());
  BOOST_TEST(!error.empty());
  BOOST_TEST(!decode_event("[]").has_value());
  auto without = [&](std::string_view member) {
    auto d = test::doc(good);
    d.RemoveMember(std::string(member).c_str());
    return json::to_string(d);
  };
  for (auto member : {"id", "type", "version", "stream", "sequence", "partition", "occurred_at",
                      "actor", "command_id", "correlation_id", "prev_hash", "hash", "data"}) {
    BOOST_TEST_INFO("without " << member);
    BOOST_TEST(!decode_event(without(member)).has_value());
  }
  auto broken_id = good;
  broken_id.replace(broken_id.find(e.id.value().str()), 36, "not-a-uuid");
  BOOST_TEST(!decode_event(broken_id).has_value());
  auto broken_role = good;
  broken_role.replace(broken_role.find(R"("role":"counselor")"), 18, R"("role":"pirate")");
  BOOST_TEST(!decode_event(broken_role).has_value());
}

BOOST_AUTO_TEST_CASE(an_intact_chain_verifies) {
  auto chain = sealed_chain(6);
  BOOST_TEST(chain.front().prev_hash.empty());
  for (size_t i = 1; i < chain.size(); ++i) BOOST_TEST(chain[i].prev_hash == chain[i - 1].hash);
  for (auto& e : chain) BOOST_TEST(e.hash.size() == 64u);
  BOOST_TEST(first_broken_link(encode_all(chain)) == -1);
}

BOOST_AUTO_TEST_CASE(a_tampered_data_field_is_detected) {
  auto encoded = encode_all(sealed_chain(6));
  auto& victim = encoded[3];
  victim.replace(victim.find(R"("n":3)"), 5, R"("n":4)");
  BOOST_TEST(first_broken_link(encoded) == 3);

  // Re-sealing the edited event does not help: the next event's link breaks.
  auto events = sealed_chain(6);
  events[3].data_json = R"({"n":4,"session_id":"s3"})";
  events[3].hash = compute_event_hash(events[3]);
  BOOST_TEST(first_broken_link(encode_all(events)) == 4);
}

BOOST_AUTO_TEST_CASE(tampered_envelope_fields_are_detected) {
  auto events = sealed_chain(4);
  events[2].actor.role = Role::admin;
  BOOST_TEST(first_broken_link(encode_all(events)) == 2);
  events = sealed_chain(4);
  events[1].occurred_at += std::chrono::milliseconds{1};
  BOOST_TEST(first_broken_link(encode_all(events)) == 1);
  events = sealed_chain(4);
  events[0].sequence = 9;
  BOOST_TEST(first_broken_link(encode_all(events)) == 0);
}

BOOST_AUTO_TEST_CASE(a_deleted_event_is_detected) {
  auto encoded = encode_all(sealed_chain(6));
  encoded.erase(encoded.begin() + 2);
  BOOST_TEST(first_broken_link(encoded) == 2);
  // Deleting the first event breaks the (empty) genesis link.
  auto head = encode_all(sealed_chain(3));
  head.erase(head.begin());
  BOOST_TEST(first_broken_link(head) == 0);
}

BOOST_AUTO_TEST_CASE(reordered_events_are_detected) {
  auto encoded = encode_all(sealed_chain(6));
  std::swap(encoded[2], encoded[3]);
  BOOST_TEST(first_broken_link(encoded) == 2);
}

BOOST_AUTO_TEST_CASE(sha256_is_standard) {
  BOOST_TEST(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  BOOST_TEST(sha256_hex("abc") ==
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

BOOST_AUTO_TEST_SUITE_END()
