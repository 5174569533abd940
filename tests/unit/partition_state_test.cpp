// The processor's per-partition state machine, without any I/O.
#include <boost/test/unit_test.hpp>

#include "commands/partition_state.hpp"
#include "domain/events/envelope.hpp"

using namespace counsel;

namespace {

Uuid fixed_uuid(uint8_t seed) {
  Uuid u;
  for (size_t i = 0; i < 16; ++i) u.bytes[i] = static_cast<uint8_t>(seed + i);
  u.bytes[6] = 0x70;
  u.bytes[8] = 0x80;
  return u;
}

struct IdSource {
  uint8_t next = 100;
  Uuid operator()() { return fixed_uuid(next++); }
};

commands::Command register_cmd(const UserId& user, uint8_t id_seed) {
  commands::Command c;
  c.id = CommandId{fixed_uuid(id_seed)};
  c.type = "account.register";
  c.stream = account_stream(user);
  c.actor = Actor{user, Role::client};
  c.correlation_id = CorrelationId{fixed_uuid(static_cast<uint8_t>(id_seed + 1))};
  c.issued_at = Timestamp{std::chrono::milliseconds{1'700'000'000'000}};
  std::string id = user.value().str();
  c.data_json = R"({"user_id":")" + id + R"(","role":"client","email":"enc:v1:AA","email_hash":")" +
                sha256_hex(id) + R"(","display_name":"enc:v1:AA","password_hash":"enc:v1:AA"})";
  return c;
}

Uuid numbered_uuid(uint32_t n, uint8_t kind) {
  Uuid u = fixed_uuid(kind);
  u.bytes[12] = static_cast<uint8_t>(n >> 24);
  u.bytes[13] = static_cast<uint8_t>(n >> 16);
  u.bytes[14] = static_cast<uint8_t>(n >> 8);
  u.bytes[15] = static_cast<uint8_t>(n);
  return u;
}

// Registration n: its own user and command id.
commands::Command numbered_register_cmd(uint32_t n) {
  auto c = register_cmd(UserId{numbered_uuid(n, 1)}, 10);
  c.id = CommandId{numbered_uuid(n, 50)};
  return c;
}

const Timestamp kNow{std::chrono::milliseconds{1'700'000'000'000}};

}  // namespace

BOOST_AUTO_TEST_SUITE(partition_state_test)

BOOST_AUTO_TEST_CASE(accepted_commands_are_chained_and_positioned) {
  commands::PartitionState state(log::PartitionId{3});
  IdSource ids;
  UserId a{fixed_uuid(1)}, b{fixed_uuid(40)};
  auto first = state.handle(register_cmd(a, 10), kNow, std::ref(ids));
  auto second = state.handle(register_cmd(b, 20), kNow, std::ref(ids));
  BOOST_REQUIRE(first.result.accepted && second.result.accepted);
  BOOST_REQUIRE_EQUAL(first.events.size(), 1u);
  BOOST_REQUIRE_EQUAL(second.events.size(), 1u);
  BOOST_TEST(first.events[0].prev_hash.empty());
  BOOST_TEST(second.events[0].prev_hash == first.events[0].hash);
  BOOST_TEST(first.result.event_positions[0].offset.value() == 0);
  BOOST_TEST(second.result.event_positions[0].offset.value() == 1);
  BOOST_TEST(second.events[0].partition == 3);
  BOOST_TEST(state.event_count() == 2);
}

BOOST_AUTO_TEST_CASE(a_redelivered_command_gives_the_first_outcome_and_no_events) {
  commands::PartitionState state(log::PartitionId{0});
  IdSource ids;
  UserId a{fixed_uuid(1)};
  auto cmd = register_cmd(a, 10);
  auto first = state.handle(cmd, kNow, std::ref(ids));
  auto again = state.handle(cmd, kNow, std::ref(ids));
  BOOST_TEST(again.events.empty());
  BOOST_TEST(again.result.accepted);
  BOOST_TEST(again.result.duplicate);
  BOOST_TEST(again.result.body_json == first.result.body_json);
  BOOST_TEST(state.event_count() == 1);
}

BOOST_AUTO_TEST_CASE(replaying_the_events_rebuilds_the_same_state) {
  commands::PartitionState live(log::PartitionId{0});
  IdSource ids;
  UserId a{fixed_uuid(1)};
  auto cmd = register_cmd(a, 10);
  auto out = live.handle(cmd, kNow, std::ref(ids));

  commands::PartitionState rebuilt(log::PartitionId{0});
  for (auto& e : out.events) {
    auto decoded = decode_event(encode_event(e));
    BOOST_REQUIRE(decoded);
    rebuilt.replay(*decoded);
  }
  BOOST_TEST(rebuilt.last_hash() == live.last_hash());
  BOOST_TEST(rebuilt.event_count() == live.event_count());
  // The rebuilt state knows the stream (a second registration is refused) and the command id.
  auto dup = rebuilt.handle(cmd, kNow, std::ref(ids));
  BOOST_TEST(dup.result.duplicate);
  BOOST_TEST(dup.events.empty());
  auto other = rebuilt.handle(register_cmd(a, 30), kNow, std::ref(ids));
  BOOST_TEST(!other.result.accepted);
  BOOST_REQUIRE(other.result.rejection);
  BOOST_TEST(other.result.rejection->code == "already_registered");
}

BOOST_AUTO_TEST_CASE(unknown_commands_are_rejected_as_invalid) {
  commands::PartitionState state(log::PartitionId{0});
  IdSource ids;
  auto cmd = register_cmd(UserId{fixed_uuid(1)}, 10);
  cmd.type = "account.explode";
  auto out = state.handle(cmd, kNow, std::ref(ids));
  BOOST_TEST(!out.result.accepted);
  BOOST_TEST(out.result.rejection->code == "unknown_command");
  BOOST_TEST(out.events.empty());
}

BOOST_AUTO_TEST_CASE(an_old_command_keeps_its_id_after_its_result_is_dropped) {
  // Only two full results are kept: the first command's is dropped, its id is not.
  commands::PartitionState state(log::PartitionId{0}, {.ids = 64, .results = 2});
  IdSource ids;
  std::vector<commands::Outcome> firsts;
  for (uint32_t n = 0; n < 3; ++n)
    firsts.push_back(state.handle(numbered_register_cmd(n), kNow, std::ref(ids)));
  BOOST_TEST(state.remembered_results() == 2u);

  auto recent = state.handle(numbered_register_cmd(2), kNow, std::ref(ids));
  BOOST_TEST(recent.result.duplicate);
  BOOST_TEST(recent.events.empty());
  BOOST_REQUIRE_EQUAL(recent.result.event_positions.size(), 1u);
  BOOST_TEST(recent.result.event_positions[0].offset.value() == 2);

  auto old = state.handle(numbered_register_cmd(0), kNow, std::ref(ids));
  BOOST_TEST(old.result.duplicate);
  BOOST_TEST(old.result.accepted);
  BOOST_TEST(old.events.empty());
  // Answered from the aggregate as it is now, as after a restart.
  BOOST_TEST(old.result.body_json == firsts[0].result.body_json);
  BOOST_TEST(state.event_count() == 3);
}

BOOST_AUTO_TEST_CASE(results_are_bounded_by_bytes) {
  commands::PartitionState state(log::PartitionId{0},
                                 {.ids = 64, .results = 100, .result_bytes = 1});
  IdSource ids;
  for (uint32_t n = 0; n < 5; ++n) state.handle(numbered_register_cmd(n), kNow, std::ref(ids));
  BOOST_TEST(state.remembered_results() == 0u);
  auto again = state.handle(numbered_register_cmd(4), kNow, std::ref(ids));
  BOOST_TEST(again.result.duplicate);
  BOOST_TEST(again.events.empty());
}

BOOST_AUTO_TEST_CASE(at_least_half_the_id_limit_of_recent_ids_is_remembered) {
  commands::PartitionState state(log::PartitionId{0}, {.ids = 8, .results = 0});
  IdSource ids;
  for (uint32_t n = 0; n < 100; ++n) {
    auto out = state.handle(numbered_register_cmd(n), kNow, std::ref(ids));
    BOOST_REQUIRE(out.result.accepted);
    BOOST_TEST(state.remembered_ids() <= 8u);
  }
  for (uint32_t n = 96; n < 100; ++n) {
    auto again = state.handle(numbered_register_cmd(n), kNow, std::ref(ids));
    BOOST_TEST(again.result.duplicate);
    BOOST_TEST(again.events.empty());
  }
  // Replayed events fill the same window.
  commands::PartitionState rebuilt(log::PartitionId{0}, {.ids = 8, .results = 0});
  commands::PartitionState live(log::PartitionId{0});
  for (uint32_t n = 0; n < 20; ++n) {
    for (auto& e : live.handle(numbered_register_cmd(n), kNow, std::ref(ids)).events)
      rebuilt.replay(*decode_event(encode_event(e)));
  }
  BOOST_TEST(rebuilt.remembered_ids() <= 8u);
  auto dup = rebuilt.handle(numbered_register_cmd(19), kNow, std::ref(ids));
  BOOST_TEST(dup.result.duplicate);
  BOOST_TEST(dup.events.empty());
  BOOST_TEST(rebuilt.event_count() == 20);
}

BOOST_AUTO_TEST_SUITE_END()
