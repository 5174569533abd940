// The command processor on both log engines: outcomes, dedupe, rebuild after restart, a
// processor process that dies in the middle of a commit, and partition sharing between two
// processors.
#include <boost/test/unit_test.hpp>

#include <optional>
#include <thread>

#include "api/command_bus.hpp"
#include "commands/command_processor.hpp"
#include "counsel_process.hpp"
#include "domain/events/envelope.hpp"
#include "infra/log/postgres_log.hpp"
#include "infra/random_ids.hpp"
#include "test_database.hpp"
#include "test_log_engines.hpp"

using namespace counsel;
using namespace std::chrono_literals;
using counsel::testing::eventually;
using counsel::testing::log_engines;
using counsel::testing::TestLog;
namespace data = boost::unit_test::data;

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

size_t count_events(log::Log& log) {
  return counsel::testing::count_records(log, log::Topic::events);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(command_processor_test)

BOOST_DATA_TEST_CASE(accepts_rejects_and_dedupes_redelivered_commands, data::make(log_engines()),
                     engine) {
  counsel::testing::TestDatabase db;
  TestLog log(engine, db, 4);
  commands::CommandProcessor processor(*log, {});
  processor.start();
  api::CommandBus bus(*log);
  bus.start();

  UserId user{new_uuid_v7()};
  auto cmd = register_command(user);
  auto first = bus.submit(cmd, 20s);
  BOOST_REQUIRE(first);
  BOOST_TEST(first->accepted);
  BOOST_TEST(!first->duplicate);
  BOOST_REQUIRE_EQUAL(first->event_positions.size(), 1u);
  BOOST_TEST(count_events(*log) == 1u);
  // The bus waits for the command's outcome: on postgres its append did not wait for the flush
  // (the processor's synchronous commit of the outcome made it durable).
  if (auto* postgres = dynamic_cast<log::PostgresLog*>(&*log))
    BOOST_TEST(postgres->deferred_flush_appends() == 1u);

  // The same command again (a redelivery): same outcome, no new events.
  auto again = bus.submit(cmd, 20s);
  BOOST_REQUIRE(again);
  BOOST_TEST(again->accepted);
  BOOST_TEST(again->duplicate);
  BOOST_TEST(again->body_json == first->body_json);
  BOOST_TEST(count_events(*log) == 1u);

  // A new command against the same state is decided on that state.
  auto second = register_command(user);
  auto rejected = bus.submit(second, 20s);
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

// A group commit that fails (here by injection, as a lost connection would) commits nothing,
// so the processor must forget what it decided: every command is answered once, by its first
// real outcome, with one copy of its events; none is lost and none is taken for a duplicate.
BOOST_DATA_TEST_CASE(a_failed_commit_loses_and_repeats_nothing, data::make(log_engines()), engine) {
  counsel::testing::TestDatabase db;
  TestLog log(engine, db, 4);
  commands::ProcessorOptions options;
  options.fault = "processor_commit_fails_once";
  commands::CommandProcessor processor(*log, options);
  processor.start();
  api::CommandBus bus(*log);
  bus.start();

  constexpr int kUsers = 12;
  std::vector<commands::Command> sent;
  for (int i = 0; i < kUsers; ++i) sent.push_back(register_command(UserId{new_uuid_v7()}));
  std::vector<std::optional<commands::CommandResult>> results(kUsers);
  {
    // Side by side, so that the first poll (whose commit fails) holds several partitions.
    std::vector<std::thread> clients;
    for (int i = 0; i < kUsers; ++i) {
      clients.emplace_back([&, i] {
        auto r = bus.submit(sent[static_cast<size_t>(i)], 30s);
        if (r) results[static_cast<size_t>(i)] = *r;
      });
    }
    for (auto& t : clients) t.join();
  }
  for (int i = 0; i < kUsers; ++i) {
    BOOST_TEST_CONTEXT("command " << i) {
      BOOST_REQUIRE(results[static_cast<size_t>(i)].has_value());
      BOOST_TEST(results[static_cast<size_t>(i)]->accepted);
      BOOST_TEST(!results[static_cast<size_t>(i)]->duplicate);
    }
  }
  BOOST_TEST(count_events(*log) == static_cast<size_t>(kUsers));
  // The rebuilt state remembers what was committed: a redelivery is a duplicate.
  auto again = bus.submit(sent.front(), 20s);
  BOOST_REQUIRE(again);
  BOOST_TEST(again->duplicate);
  BOOST_TEST(count_events(*log) == static_cast<size_t>(kUsers));
  bus.stop();
  processor.stop();
}

// A process that runs both the api and the processor (counsel serve): the processor hands what
// it commits to the bus, which answers its submitters without reading the results back.
BOOST_DATA_TEST_CASE(a_processor_in_the_submitting_process_answers_its_submitters_itself,
                     data::make(log_engines()), engine) {
  counsel::testing::TestDatabase db;
  TestLog log(engine, db, 4);
  api::CommandBus bus(*log);  // declared first: the processor, which calls into it, stops first
  commands::CommandProcessor processor(*log, {});
  processor.on_results_committed = [&bus](const std::vector<commands::CommittedResult>& r) {
    bus.deliver_committed(r);
  };
  processor.start();

  // The bus's results reader is not started: only the processor can answer.
  UserId user{new_uuid_v7()};
  auto cmd = register_command(user);
  auto first = bus.submit(cmd, 20s);
  BOOST_REQUIRE(first);
  BOOST_TEST(first->accepted);
  BOOST_TEST(!first->duplicate);
  BOOST_TEST(first->command_id == cmd.id);
  auto again = bus.submit(cmd, 20s);
  BOOST_REQUIRE(again);
  BOOST_TEST(again->duplicate);
  BOOST_TEST(again->body_json == first->body_json);
  auto rejected = bus.submit(register_command(user), 20s);
  BOOST_REQUIRE(rejected);
  BOOST_REQUIRE(rejected->rejection);
  BOOST_TEST(rejected->rejection->code == "already_registered");
  BOOST_TEST(bus.answered_in_process() == 3u);
  BOOST_TEST(bus.answered_from_log() == 0u);

  // With the reader running too, each submitter is answered once, by one or the other, with
  // the outcome the log holds.
  bus.start();
  constexpr int kMore = 6;
  for (int i = 0; i < kMore; ++i) {
    auto r = bus.submit(register_command(UserId{new_uuid_v7()}), 20s);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->accepted);
    BOOST_REQUIRE_EQUAL(r->event_positions.size(), 1u);
  }
  BOOST_TEST(bus.answered_in_process() + bus.answered_from_log() == 3u + kMore);
  BOOST_TEST(counsel::testing::count_records(*log, log::Topic::results) == 3u + kMore);
  BOOST_TEST(count_events(*log) == 1u + kMore);
  processor.stop();
  bus.stop();
}

BOOST_DATA_TEST_CASE(a_restarted_processor_rebuilds_state_and_still_dedupes,
                     data::make(log_engines()), engine) {
  counsel::testing::TestDatabase db;
  TestLog log(engine, db, 4);
  api::CommandBus bus(*log);
  bus.start();
  UserId user{new_uuid_v7()};
  auto cmd = register_command(user);
  {
    commands::CommandProcessor processor(*log, {});
    processor.start();
    auto r = bus.submit(cmd, 20s);
    BOOST_REQUIRE(r && r->accepted);
    processor.stop();
  }
  commands::CommandProcessor restarted(*log, {});
  restarted.start();
  auto again = bus.submit(cmd, 20s);
  BOOST_REQUIRE(again);
  BOOST_TEST(again->accepted);
  BOOST_TEST(again->duplicate);
  auto other = bus.submit(register_command(user), 20s);
  BOOST_REQUIRE(other);
  BOOST_TEST(!other->accepted);
  BOOST_TEST(count_events(*log) == 1u);
  bus.stop();
  restarted.stop();
}

// A `counsel processor` process dies half-way through the work of a command: on postgres right
// after its atomic commit (before anything else happens), on Kafka after producing the
// transaction's records but before committing it. The mock cluster does not enforce
// transactions, so those records stay visible there: only the command-id dedupe of the processor
// that takes over keeps the redelivered command from producing its events twice.
BOOST_DATA_TEST_CASE(a_processor_killed_mid_command_is_replaced_without_a_second_copy,
                     data::make(log_engines()), engine) {
  counsel::testing::TestDatabase db;
  TestLog log(engine, db, 4);
  api::CommandBus bus(*log);
  bus.start();
  const std::string fault =
      log.is_kafka() ? "processor_crash_before_commit" : "processor_crash_after_append";
  const pid_t doomed = counsel::testing::spawn_counsel(log, db, "processor", fault, "doomed");

  UserId user{new_uuid_v7()};
  auto cmd = register_command(user);
  // The answer may or may not make it out before the crash.
  auto first = bus.submit(cmd, 30s);
  int status = 0;
  BOOST_REQUIRE_MESSAGE(counsel::testing::wait_for_exit(doomed, 30s, status),
                        "the " << fault << " fault hook ends the processor");
  BOOST_TEST(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
  BOOST_TEST(count_events(*log) <= 1u);

  commands::CommandProcessor survivor(*log, {});
  survivor.start();
  auto again = bus.submit(cmd, 40s);
  BOOST_REQUIRE(again);
  BOOST_TEST(again->accepted);
  if (first) BOOST_TEST(again->body_json == first->body_json);
  auto other = bus.submit(register_command(user), 20s);
  BOOST_REQUIRE(other);
  BOOST_TEST(!other->accepted);
  const auto events = counsel::testing::read_all(*log, log::Topic::events);
  BOOST_REQUIRE_EQUAL(events.size(), 1u);
  auto e = decode_event(events[0].value);
  BOOST_REQUIRE(e);
  BOOST_TEST((e->command_id == cmd.id));
  bus.stop();
  survivor.stop();
}

BOOST_DATA_TEST_CASE(two_processors_split_partitions_and_one_takes_over, data::make(log_engines()),
                     engine) {
  counsel::testing::TestDatabase db;
  TestLog log_a(engine, db, 8, "a");
  auto log_b = log_a.open_member("b");
  commands::CommandProcessor a(*log_a, {});
  a.start();
  BOOST_REQUIRE(
      eventually([&] { return a.owned_partitions().size() == 8; }, log_a.rebalance_limit()));
  commands::CommandProcessor b(*log_b, {});
  b.start();
  BOOST_TEST(eventually(
      [&] { return a.owned_partitions().size() == 4 && b.owned_partitions().size() == 4; },
      log_a.rebalance_limit()));

  api::CommandBus bus(*log_a);
  bus.start();
  std::vector<UserId> users;
  for (int i = 0; i < 16; ++i) {
    users.push_back(UserId{new_uuid_v7()});
    auto r = bus.submit(register_command(users.back()), 20s);
    BOOST_REQUIRE(r && r->accepted);
  }
  a.stop();
  BOOST_TEST(eventually([&] { return b.owned_partitions().size() == 8; }, log_a.rebalance_limit()));
  // b rebuilt the partitions it took over: registering the same users again is refused.
  for (auto& u : users) {
    auto r = bus.submit(register_command(u), 20s);
    BOOST_REQUIRE(r);
    BOOST_TEST(!r->accepted);
  }
  BOOST_TEST(count_events(*log_a) == 16u);
  bus.stop();
  b.stop();
}

BOOST_AUTO_TEST_SUITE_END()
