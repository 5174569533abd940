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

BOOST_AUTO_TEST_SUITE_END()
