// PartitionChainWalk::check_record (the walk of `counsel audit verify`, which reads canonical
// records in place) reports exactly what check (which decodes every record) reports, for intact,
// tampered, re-encoded and randomly edited partitions.
#include <boost/test/unit_test.hpp>

#include <random>

#include "api/cli/event_chain.hpp"
#include "domain_test_support.hpp"

using namespace counsel;
using namespace counsel::api;
using counsel::test::at;
using counsel::test::nth_uuid;
using counsel::test::user;

namespace {

constexpr int32_t kPartition = 2;

struct Slot {
  int64_t offset;
  std::string value;
};

// Three streams interleaved, data with escapes and raw UTF-8.
std::vector<Slot> chain(unsigned count) {
  std::vector<Slot> out;
  std::string prev;
  for (unsigned i = 0; i < count; ++i) {
    EventEnvelope e;
    e.id = EventId{nth_uuid(i, 60)};
    e.type = "room.message_posted";
    e.stream = "room-" + nth_uuid(i % 3, 61).str();
    e.sequence = i / 3 + 1;
    e.partition = kPartition;
    e.occurred_at = at("2026-05-01T12:00:00.000Z") + std::chrono::milliseconds{i * 250};
    e.actor = Actor{user(i % 2), Role::client};
    e.command_id = CommandId{nth_uuid(i, 62)};
    e.correlation_id = CorrelationId{nth_uuid(i, 63)};
    e.data_json = json::canonical(test::doc("{\"text\":\"line " + std::to_string(i) +
                                            "\\n\\\"caf\xC3\xA9\\\"\",\"n\":" + std::to_string(i) +
                                            ",\"score\":0.5}"));
    seal_event(e, prev);
    prev = e.hash;
    out.push_back({i, encode_event(e)});
  }
  return out;
}

std::string described(const std::vector<ChainProblem>& problems) {
  std::string text;
  for (auto& p : problems) text += p.describe() + "\n";
  return text;
}

// Both walks over the same slots; their problems, in order, and their end states must match.
void expect_same_report(const std::vector<Slot>& slots,
                        std::optional<ChainCheckpoint> checkpoint = std::nullopt,
                        bool dense = true) {
  PartitionChainWalk decoding(kPartition, dense, checkpoint);
  PartitionChainWalk viewing(kPartition, dense, checkpoint);
  std::vector<ChainProblem> decoded_problems, viewed_problems;
  for (auto& s : slots) {
    if (checkpoint && s.offset < checkpoint->offset) continue;
    const bool decodable = decoding.check(s.offset, s.value, decoded_problems).has_value();
    BOOST_TEST(viewing.check_record(s.offset, s.value, viewed_problems) == decodable);
  }
  BOOST_TEST(described(viewed_problems) == described(decoded_problems));
  BOOST_TEST(viewing.events_checked() == decoding.events_checked());
  BOOST_TEST(viewing.last_offset() == decoding.last_offset());
  BOOST_TEST(viewing.last_hash() == decoding.last_hash());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(event_chain_record_test)

BOOST_AUTO_TEST_CASE(intact_and_tampered_partitions_are_reported_alike) {
  auto slots = chain(12);
  expect_same_report(slots);

  auto edited = slots;
  edited[4].value.replace(edited[4].value.find(R"("n":4)"), 5, R"("n":7)");
  expect_same_report(edited);

  auto swapped = slots;
  std::swap(swapped[3].value, swapped[4].value);
  expect_same_report(swapped);

  auto deleted = slots;
  deleted.erase(deleted.begin() + 6);
  expect_same_report(deleted);
  expect_same_report(deleted, std::nullopt, /*dense=*/false);

  auto garbage = slots;
  garbage[2].value = "{\"not\":\"an event\"}";
  garbage[5].value = "garbage";
  expect_same_report(garbage);

  auto moved = slots;
  moved[7].value.replace(moved[7].value.find(R"("partition":2)"), 13, R"("partition":3)");
  expect_same_report(moved);

  const auto hash_5 = decode_event(slots[5].value)->hash;
  expect_same_report(swapped, ChainCheckpoint{kPartition, 5, hash_5});
  expect_same_report(slots, ChainCheckpoint{kPartition, 5, hash_5});
  expect_same_report(slots, ChainCheckpoint{kPartition, 6, hash_5});
}

BOOST_AUTO_TEST_CASE(records_in_another_form_are_decoded_and_still_verify) {
  // Whitespace and another member order change no hash: neither walk may call them broken.
  auto slots = chain(6);
  slots[1].value.replace(slots[1].value.find(R"("data":{)"), 8, R"("data": {)");
  slots[3].value.insert(slots[3].value.size() - 1, "\n");
  auto reordered = test::doc(slots[4].value);
  auto data = json::to_string(reordered["data"]);
  slots[4].value.replace(slots[4].value.find(data), data.size(),
                         R"({"score":0.5,"n":4,"text":"line 4\n\"caf\u00e9\""})");
  expect_same_report(slots);
  PartitionChainWalk walk(kPartition, true);
  std::vector<ChainProblem> problems;
  for (auto& s : slots) walk.check_record(s.offset, s.value, problems);
  BOOST_TEST(described(problems) == "");
}

BOOST_AUTO_TEST_CASE(randomly_edited_partitions_are_reported_alike) {
  const auto intact = chain(9);
  const std::string alphabet = "\"\\{}[]:,.-0123456789abefnu \n\xC3";
  std::mt19937 random(7);
  for (int round = 0; round < 3000; ++round) {
    auto slots = intact;
    for (int edit = 0; edit < 2; ++edit) {
      auto& value = slots[std::uniform_int_distribution<size_t>(0, slots.size() - 1)(random)].value;
      const auto pos = std::uniform_int_distribution<size_t>(0, value.size() - 1)(random);
      value[pos] = alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(random)];
    }
    expect_same_report(slots);
  }
}

BOOST_AUTO_TEST_SUITE_END()
