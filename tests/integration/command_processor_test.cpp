// The command processor on the PostgreSQL engine: outcomes, dedupe, rebuild after restart,
// and partition sharing between two processors.
#include <boost/test/unit_test.hpp>

#include <thread>

#include "api/command_bus.hpp"
#include "commands/command_processor.hpp"
#include "domain/events/envelope.hpp"
#include "infra/log/postgres_log.hpp"
#include "infra/random_ids.hpp"
#include "test_database.hpp"

using namespace counsel;
using namespace std::chrono_literals;

namespace {

commands::Command register_command(const UserId& user, const std::string& role = "client") {
  commands::Command c;
  c.id = CommandId{new_uuid_v7()};
  c.type = "account.register";
  c.stream = account_stream(user);
  c.actor = Actor{user, *parse_role(role)};
  c.correlation_id = CorrelationId{new_uuid_v7()};
  c.issued_at = now_utc();
  std::string id = user.value().str();
  c.data_json = R"({"user_id":")" + id + R"(","role":")" + role +
                R"(","email":"enc:v1:AAAA","email_hash":")" + sha256_hex(id) +
                R"(","display_name":"enc:v1:AAAA","password_hash":"enc:v1:AAAA"})";
  return c;
}

int64_t count_events(log::Log& log) {
  int64_t n = 0;
  for (int p = 0; p < log.partition_count(); ++p)
    n += log.end_offset(log::Topic::events, log::PartitionId{p})->value();
  return n;
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 15s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(command_processor_test)

BOOST_AUTO_TEST_CASE(accepts_rejects_and_dedupes_redelivered_commands) {
  counsel::testing::TestDatabase db;
  auto log = log::make_postgres_log(db.conninfo(), 4, "test");
  commands::CommandProcessor processor(*log, {});
  processor.start();
  api::CommandBus bus(*log);
  bus.start();

  UserId user{new_uuid_v7()};
  auto cmd = register_command(user);
  auto first = bus.submit(cmd, 10s);
  BOOST_REQUIRE(first);
  BOOST_TEST(first->accepted);
  BOOST_TEST(!first->duplicate);
  BOOST_REQUIRE_EQUAL(first->event_positions.size(), 1u);
  BOOST_TEST(count_events(*log) == 1);

  // The same command again (a redelivery): same outcome, no new events.
  auto again = bus.submit(cmd, 10s);
  BOOST_REQUIRE(again);
  BOOST_TEST(again->accepted);
  BOOST_TEST(again->duplicate);
  BOOST_TEST(again->body_json == first->body_json);
  BOOST_TEST(count_events(*log) == 1);

  // A new command against the same state is decided on that state.
  auto second = register_command(user);
  auto rejected = bus.submit(second, 10s);
  BOOST_REQUIRE(rejected);
  BOOST_TEST(!rejected->accepted);
  BOOST_REQUIRE(rejected->rejection);
  BOOST_TEST(rejected->rejection->code == "already_registered");

  // The appended event is chained and sealed.
  auto reader = log->reader();
  auto p = first->event_positions[0];
  reader->assign(log::Topic::events, {{p.partition, p.offset}});
  auto records = reader->poll(10, 1s);
  BOOST_REQUIRE(records && records->size() == 1);
  auto e = decode_event((*records)[0].value);
  BOOST_REQUIRE(e);
  BOOST_TEST(e->type == "account.registered");
  BOOST_TEST(e->sequence == 1);
  BOOST_TEST(e->prev_hash.empty());
  BOOST_TEST(compute_event_hash(*e) == e->hash);
  BOOST_TEST((e->command_id == cmd.id));

  bus.stop();
  processor.stop();
}

BOOST_AUTO_TEST_CASE(a_restarted_processor_rebuilds_state_and_still_dedupes) {
  counsel::testing::TestDatabase db;
  auto log = log::make_postgres_log(db.conninfo(), 4, "test");
  api::CommandBus bus(*log);
  bus.start();
  UserId user{new_uuid_v7()};
  auto cmd = register_command(user);
  {
    commands::CommandProcessor processor(*log, {});
    processor.start();
    auto r = bus.submit(cmd, 10s);
    BOOST_REQUIRE(r && r->accepted);
    processor.stop();
  }
  commands::CommandProcessor restarted(*log, {});
  restarted.start();
  auto again = bus.submit(cmd, 10s);
  BOOST_REQUIRE(again);
  BOOST_TEST(again->accepted);
  BOOST_TEST(again->duplicate);
  auto other = bus.submit(register_command(user), 10s);
  BOOST_REQUIRE(other);
  BOOST_TEST(!other->accepted);
  BOOST_TEST(count_events(*log) == 1);
  bus.stop();
  restarted.stop();
}

BOOST_AUTO_TEST_CASE(two_processors_split_partitions_and_one_takes_over) {
  counsel::testing::TestDatabase db;
  auto log_a = log::make_postgres_log(db.conninfo(), 8, "a");
  auto log_b = log::make_postgres_log(db.conninfo(), 8, "b");
  commands::CommandProcessor a(*log_a, {});
  a.start();
  BOOST_REQUIRE(eventually([&] { return a.owned_partitions().size() == 8; }));
  commands::CommandProcessor b(*log_b, {});
  b.start();
  BOOST_TEST(eventually(
      [&] { return a.owned_partitions().size() == 4 && b.owned_partitions().size() == 4; }));

  api::CommandBus bus(*log_a);
  bus.start();
  std::vector<UserId> users;
  for (int i = 0; i < 16; ++i) {
    users.push_back(UserId{new_uuid_v7()});
    auto r = bus.submit(register_command(users.back()), 10s);
    BOOST_REQUIRE(r && r->accepted);
  }
  a.stop();
  BOOST_TEST(eventually([&] { return b.owned_partitions().size() == 8; }));
  // b rebuilt the partitions it took over: registering the same users again is refused.
  for (auto& u : users) {
    auto r = bus.submit(register_command(u), 10s);
    BOOST_REQUIRE(r);
    BOOST_TEST(!r->accepted);
  }
  BOOST_TEST(count_events(*log_a) == 16);
  bus.stop();
  b.stop();
}

BOOST_AUTO_TEST_SUITE_END()
