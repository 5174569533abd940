// The hash chain walk behind `counsel audit verify` and `counsel log check`, on in-memory
// envelopes: each kind of tampering is found at the position where it happened; and the
// filters of `counsel audit replay`.
#include "api/cli/event_chain.hpp"

#include <boost/test/unit_test.hpp>

#include "api/cli/audit_replay.hpp"
#include "domain_test_support.hpp"

using namespace counsel;
using namespace counsel::api;
using counsel::test::at;
using counsel::test::nth_uuid;
using counsel::test::user;

namespace {

constexpr int32_t kPartition = 5;

struct Slot {
  int64_t offset;
  std::string value;
};

EventEnvelope make_event(unsigned n) {
  EventEnvelope e;
  e.id = EventId{nth_uuid(n, 30)};
  e.type = n % 2 ? "session.confirmed" : "session.requested";
  e.stream = counselor_stream(user(1));
  e.sequence = n + 1;
  e.partition = kPartition;
  e.occurred_at = at("2026-03-02T08:00:00.000Z") + std::chrono::seconds{n};
  e.actor = Actor{user(1), Role::counselor};
  e.command_id = CommandId{nth_uuid(n, 31)};
  e.correlation_id = CorrelationId{nth_uuid(n, 32)};
  e.data_json = json::canonical(test::doc(R"({"n":)" + std::to_string(n) + "}"));
  return e;
}

// A correctly chained partition: offsets 0..count-1.
std::vector<Slot> chain(unsigned count) {
  std::vector<Slot> out;
  std::string prev;
  for (unsigned i = 0; i < count; ++i) {
    auto e = make_event(i);
    seal_event(e, prev);
    prev = e.hash;
    out.push_back({i, encode_event(e)});
  }
  return out;
}

std::vector<ChainProblem> walk(const std::vector<Slot>& slots,
                               std::optional<ChainCheckpoint> checkpoint = std::nullopt,
                               bool dense = true) {
  PartitionChainWalk w(kPartition, dense, checkpoint);
  std::vector<ChainProblem> problems;
  for (auto& s : slots)
    if (!checkpoint || s.offset >= checkpoint->offset) w.check(s.offset, s.value, problems);
  return problems;
}

std::string hash_at(const std::vector<Slot>& slots, size_t i) {
  return decode_event(slots[i].value)->hash;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(event_chain_test)

BOOST_AUTO_TEST_CASE(an_intact_chain_has_no_problem) {
  auto slots = chain(10);
  BOOST_TEST(walk(slots).empty());
  PartitionChainWalk w(kPartition, true);
  std::vector<ChainProblem> problems;
  for (auto& s : slots) w.check(s.offset, s.value, problems);
  BOOST_TEST(w.events_checked() == 10);
  BOOST_TEST(w.last_offset() == 9);
  BOOST_TEST(w.last_hash() == hash_at(slots, 9));
}

BOOST_AUTO_TEST_CASE(edited_data_is_a_hash_mismatch_at_the_edited_event_only) {
  auto slots = chain(10);
  auto pos = slots[4].value.find(R"("n":4)");
  slots[4].value.replace(pos, 5, R"("n":7)");
  auto problems = walk(slots);
  BOOST_REQUIRE_EQUAL(problems.size(), 1u);
  BOOST_TEST(problems[0].offset == 4);
  BOOST_TEST((problems[0].fault == ChainFault::hash_mismatch));
  BOOST_TEST(problems[0].event_id == nth_uuid(4, 30).str());
  BOOST_TEST(problems[0].describe().find("partition 5 offset 4") == 0u);
}

BOOST_AUTO_TEST_CASE(an_edited_and_resealed_event_breaks_the_next_link) {
  auto slots = chain(10);
  auto e = *decode_event(slots[4].value);
  e.data_json = R"({"n":99})";
  seal_event(e, e.prev_hash);
  slots[4].value = encode_event(e);
  auto problems = walk(slots);
  BOOST_REQUIRE(!problems.empty());
  BOOST_TEST(problems[0].offset == 5);
  BOOST_TEST((problems[0].fault == ChainFault::prev_hash_mismatch));
}

BOOST_AUTO_TEST_CASE(a_deleted_event_is_missing_on_dense_offsets_and_unlinked_on_kafka) {
  auto slots = chain(10);
  slots.erase(slots.begin() + 6);
  auto problems = walk(slots);
  BOOST_REQUIRE(!problems.empty());
  BOOST_TEST((problems[0].fault == ChainFault::missing_offsets));
  BOOST_TEST(problems[0].offset == 6);
  BOOST_TEST(problems[1].offset == 7);
  BOOST_TEST((problems[1].fault == ChainFault::prev_hash_mismatch));

  // Renumbered so the offsets stay dense: the chain still gives it away.
  for (size_t i = 6; i < slots.size(); ++i) slots[i].offset = static_cast<int64_t>(i);
  problems = walk(slots);
  BOOST_REQUIRE(!problems.empty());
  BOOST_TEST(problems[0].offset == 6);
  BOOST_TEST((problems[0].fault == ChainFault::prev_hash_mismatch));

  slots = chain(10);
  slots.erase(slots.begin() + 6);
  problems = walk(slots, std::nullopt, /*dense=*/false);
  BOOST_REQUIRE(!problems.empty());
  BOOST_TEST(problems[0].offset == 7);
  BOOST_TEST((problems[0].fault == ChainFault::prev_hash_mismatch));
}

BOOST_AUTO_TEST_CASE(swapped_events_break_the_link_at_the_first_swapped_position) {
  auto slots = chain(10);
  std::swap(slots[3].value, slots[4].value);
  auto problems = walk(slots);
  BOOST_REQUIRE(!problems.empty());
  BOOST_TEST(problems[0].offset == 3);
  BOOST_TEST((problems[0].fault == ChainFault::prev_hash_mismatch));
}

BOOST_AUTO_TEST_CASE(an_inserted_event_is_found_where_it_was_inserted) {
  auto slots = chain(10);
  // Sealed onto the chain where it is inserted, so only its successor can notice.
  auto forged = make_event(50);
  seal_event(forged, hash_at(slots, 2));
  slots.insert(slots.begin() + 3, Slot{3, encode_event(forged)});
  for (size_t i = 4; i < slots.size(); ++i) slots[i].offset = static_cast<int64_t>(i);
  auto problems = walk(slots);
  BOOST_REQUIRE(!problems.empty());
  // The forged event's own stream sequence is wrong (51 after 3), and its successor does not
  // link to it.
  BOOST_TEST(problems[0].offset == 3);
  BOOST_TEST((problems[0].fault == ChainFault::sequence_gap));
  bool unlinked_successor = false;
  for (auto& p : problems)
    unlinked_successor |= p.offset == 4 && p.fault == ChainFault::prev_hash_mismatch;
  BOOST_TEST(unlinked_successor);
}

BOOST_AUTO_TEST_CASE(a_record_that_is_no_envelope_is_reported) {
  auto slots = chain(3);
  slots[1].value = "{\"not\":\"an event\"}";
  auto problems = walk(slots);
  BOOST_REQUIRE(!problems.empty());
  BOOST_TEST(problems[0].offset == 1);
  BOOST_TEST((problems[0].fault == ChainFault::undecodable));
}

BOOST_AUTO_TEST_CASE(a_checkpoint_starts_the_walk_and_is_itself_checked) {
  auto slots = chain(10);
  // Everything before the checkpoint is trusted, even if it is broken.
  slots[1].value = "garbage";
  auto problems = walk(slots, ChainCheckpoint{kPartition, 5, hash_at(slots, 5)});
  BOOST_TEST(problems.empty());
  // Tampering after the checkpoint is still found.
  std::swap(slots[7].value, slots[8].value);
  problems = walk(slots, ChainCheckpoint{kPartition, 5, hash_at(slots, 5)});
  BOOST_REQUIRE(!problems.empty());
  BOOST_TEST(problems[0].offset == 7);
  // A checkpoint that does not match the event there.
  problems = walk(chain(10), ChainCheckpoint{kPartition, 5, hash_at(chain(10), 4)});
  BOOST_REQUIRE(!problems.empty());
  BOOST_TEST(problems[0].offset == 5);
  BOOST_TEST((problems[0].fault == ChainFault::checkpoint_mismatch));
}

BOOST_AUTO_TEST_CASE(checkpoints_parse_from_partition_offset_hash) {
  auto hash = std::string(64, 'a');
  auto c = parse_chain_checkpoint("3:120:" + hash);
  BOOST_REQUIRE(c.has_value());
  BOOST_TEST(c->partition == 3);
  BOOST_TEST(c->offset == 120);
  BOOST_TEST(c->hash == hash);
  BOOST_TEST(!parse_chain_checkpoint("3:120").has_value());
  BOOST_TEST(!parse_chain_checkpoint("3:x:" + hash).has_value());
  BOOST_TEST(!parse_chain_checkpoint("3:120:" + std::string(63, 'a')).has_value());
  BOOST_TEST(!parse_chain_checkpoint("-1:120:" + hash).has_value());
}

BOOST_AUTO_TEST_CASE(replay_filters_match_exactly) {
  auto e = make_event(1);
  const auto client = nth_uuid(7, 40);
  e.data_json = json::canonical(
      test::doc(R"({"booking":{"client_id":")" + client.str() + R"("},"note_ids":[],"n":1})"));
  ReplayFilter f;
  BOOST_TEST(f.matches(e));
  f.types = {"session.*"};
  BOOST_TEST(f.matches(e));
  f.types = {"session.requested", "account.registered"};
  BOOST_TEST(!f.matches(e));
  f.types = {"session.confirmed"};
  BOOST_TEST(f.matches(e));
  f.subject = client;
  BOOST_TEST(f.matches(e));
  f.subject = nth_uuid(8, 40);
  BOOST_TEST(!f.matches(e));
  f.subject = user(1).value();  // the counselor whose stream it is
  BOOST_TEST(f.matches(e));
  f.subject.reset();
  f.actor = user(1).value();
  BOOST_TEST(f.matches(e));
  f.actor = client;
  BOOST_TEST(!f.matches(e));
  f.actor.reset();
  f.from_time = e.occurred_at;
  f.to_time = e.occurred_at + std::chrono::milliseconds(1);
  BOOST_TEST(f.matches(e));
  f.to_time = e.occurred_at;  // exclusive
  BOOST_TEST(!f.matches(e));
  f.to_time.reset();
  f.stream = "session-x";
  BOOST_TEST(!f.matches(e));
}

BOOST_AUTO_TEST_CASE(csv_fields_are_quoted_when_needed) {
  BOOST_TEST(csv_field("plain") == "plain");
  BOOST_TEST(csv_field(R"({"a":1,"b":"x"})") == R"("{""a"":1,""b"":""x""}")");
  BOOST_TEST(csv_field("two\nlines") == "\"two\nlines\"");
}

BOOST_AUTO_TEST_SUITE_END()
