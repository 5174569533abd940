// What is particular to the postgres log engine, against a real PostgreSQL: the partition count
// is fixed, concurrent appends get gap-free offsets, an epoch bump or a lost session fences the
// former owner, a commit that fails half-way stores nothing. The port's contract, which this
// engine shares with the kafka one, is in log_contract_test.
#include <algorithm>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <set>
#include <thread>

#include "infra/log/postgres_log.hpp"
#include "tests/integration/group_probe.hpp"
#include "tests/integration/test_database.hpp"
#include "tests/integration/test_log_engines.hpp"

using namespace counsel;
using namespace counsel::log;
using namespace std::chrono_literals;
using counsel::testing::poll_until;
using counsel::testing::read_all;
using counsel::testing::RecordingListener;
using counsel::testing::TestDatabase;

namespace {

constexpr int partitions = 16;

OutRecord event(std::string key, std::string value) {
  return OutRecord{Topic::events, std::move(key), std::move(value), std::nullopt};
}

OutRecord to_partition(Topic topic, int partition, std::string value) {
  return OutRecord{topic, "key-" + std::to_string(partition), std::move(value),
                   PartitionId{partition}};
}

int64_t scalar(const std::string& conninfo, const std::string& sql) {
  auto c = pg::open_connection(conninfo);
  pqxx::nontransaction tx(*c);
  return tx.exec(sql)[0][0].as<int64_t>();
}

// One event appended to `partition` past the log's port, so no announcement tells of it (a
// partition the log has appended to before: its head row exists).
void append_unannounced(const std::string& conninfo, int partition, const std::string& value) {
  auto c = pg::open_connection(conninfo);
  pqxx::work tx(*c);
  tx.exec_params(
      "WITH h AS (UPDATE log.heads SET next_offset = next_offset + 1"
      " WHERE topic = 2 AND partition = $1 RETURNING next_offset - 1 AS o)"
      " INSERT INTO log.records (topic, partition, \"offset\", key, value)"
      " SELECT 2, $1, o, 'k', $2 FROM h",
      partition, value);
  tx.commit();
}

// Joins the processor group on the commands topic and polls until this member owns every
// partition (it must be the only live one).
std::unique_ptr<GroupConsumer> join_owning_everything(PostgresLog& log,
                                                      RecordingListener& listener) {
  auto consumer = log.join_group(Topic::commands, "processor", listener);
  BOOST_REQUIRE(poll_until({consumer.get()},
                           [&] { return listener.owned() == static_cast<size_t>(partitions); }));
  return consumer;
}

// The processor group's stored position of `partition`; -1 when none is stored.
int64_t stored_position(const std::string& conninfo, int partition) {
  return scalar(conninfo,
                "SELECT coalesce(max(next_offset), -1) FROM log.group_positions"
                " WHERE grp = 'processor' AND partition = " +
                    std::to_string(partition));
}

PostgresLogOptions fast_group_options() {
  PostgresLogOptions options;
  options.heartbeat_interval = 300ms;
  options.member_timeout = 2s;
  options.acquire_interval = 100ms;
  return options;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(postgres_log_test)

BOOST_AUTO_TEST_CASE(the_partition_count_cannot_change) {
  TestDatabase db;
  { PostgresLog log(db.conninfo(), partitions, "test"); }
  BOOST_CHECK_THROW(PostgresLog(db.conninfo(), 8, "test"), std::runtime_error);
  BOOST_CHECK_NO_THROW(PostgresLog(db.conninfo(), partitions, "test"));
}

BOOST_AUTO_TEST_CASE(concurrent_appenders_get_gap_free_increasing_offsets) {
  TestDatabase db;
  PostgresLogOptions options;
  options.pool_size = 8;
  PostgresLog log(db.conninfo(), partitions, "test", options);
  constexpr int threads = 8;
  constexpr int appends_per_thread = 150;
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  const auto started = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < appends_per_thread; ++i) {
        // Mostly one shared partition (maximum contention), sometimes a batch over several.
        std::vector<OutRecord> batch{
            to_partition(Topic::events, 0, std::to_string(t) + ":" + std::to_string(i))};
        if (i % 10 == 0) batch.push_back(event("spread-" + std::to_string(i), "x"));
        if (!log.append(batch)) ++failures;
      }
    });
  }
  for (auto& w : workers) w.join();
  const auto elapsed = std::chrono::steady_clock::now() - started;
  BOOST_TEST_MESSAGE("8 threads appended " << threads * appends_per_thread << " batches in "
                                           << std::chrono::duration<double>(elapsed).count()
                                           << " s");
  BOOST_TEST(failures.load() == 0);

  const auto records = read_all(log, Topic::events);
  std::map<int, int64_t> next_offset;
  std::map<std::string, int> last_i_per_thread;
  int in_partition_zero = 0;
  for (const auto& r : records) {
    BOOST_TEST(r.offset.value() == next_offset[r.partition.value()]);
    next_offset[r.partition.value()] = r.offset.value() + 1;
    if (r.partition.value() == 0 && r.key == "key-0") {
      ++in_partition_zero;
      const auto colon = r.value.find(':');
      const auto thread = r.value.substr(0, colon);
      const int i = std::stoi(r.value.substr(colon + 1));
      // Each thread's appends land in the order it made them.
      if (last_i_per_thread.contains(thread)) BOOST_TEST(i > last_i_per_thread[thread]);
      last_i_per_thread[thread] = i;
    }
  }
  BOOST_TEST(in_partition_zero == threads * appends_per_thread);
  for (const auto& [p, next] : next_offset) {
    auto end = log.end_offset(Topic::events, PartitionId{p});
    BOOST_REQUIRE(end.has_value());
    BOOST_TEST(end->value() == next);
  }
}

// Commands alone commit without waiting for the WAL flush (the decision that follows flushes
// them); anything with an event or a result in it waits, and the session keeps its setting.
// Only an append whose every record waits for an outcome (a command whose sender waits for its
// result) commits without waiting for the WAL flush: the outcome's commit flushes it. Anything
// with an event, a result or a command nobody waits for (an access record) in it waits, and the
// connection keeps its setting.
BOOST_AUTO_TEST_CASE(only_records_durable_with_their_outcome_commit_without_the_flush_wait) {
  TestDatabase db;
  {
    // The test cluster runs with the flush wait off (COUNSEL_PG_FAST); this database with it on,
    // as production does.
    auto c = pg::open_connection(db.conninfo());
    pqxx::nontransaction tx(*c);
    tx.exec0("ALTER DATABASE " + tx.quote_name(db.name()) + " SET synchronous_commit = on");
  }
  PostgresLogOptions options;
  options.pool_size = 1;  // every append on the same connection: a setting left behind would show
  PostgresLog log(db.conninfo(), partitions, "test", options);
  const auto command = [](int partition) {
    auto r = to_partition(Topic::commands, partition, "command " + std::to_string(partition));
    r.durable_with_outcome = true;
    return r;
  };
  const auto unawaited = to_partition(Topic::commands, 6, "access.record");
  BOOST_TEST(PostgresLog::deferred_flush({command(1), command(2)}));
  BOOST_TEST(!PostgresLog::deferred_flush({command(1), to_partition(Topic::events, 1, "e")}));
  BOOST_TEST(!PostgresLog::deferred_flush({command(1), unawaited}));
  BOOST_TEST(!PostgresLog::deferred_flush({unawaited}));
  BOOST_TEST(!PostgresLog::deferred_flush({to_partition(Topic::results, 1, "r")}));
  BOOST_TEST(!PostgresLog::deferred_flush({}));

  BOOST_REQUIRE(log.append({command(1), command(2)}));
  BOOST_TEST(log.deferred_flush_appends() == 1u);
  BOOST_REQUIRE(log.append({event("stream-a", "fact")}));
  BOOST_REQUIRE(log.append({command(3), event("stream-b", "fact")}));
  BOOST_REQUIRE(log.append({to_partition(Topic::results, 4, "outcome")}));
  BOOST_REQUIRE(log.append({unawaited}));
  BOOST_TEST(log.deferred_flush_appends() == 1u);
  BOOST_REQUIRE(log.append({command(5)}));
  BOOST_TEST(log.deferred_flush_appends() == 2u);
  {
    auto lease = log.pool().acquire(5s);
    pqxx::nontransaction tx(lease.connection());
    BOOST_TEST(tx.exec1("SHOW synchronous_commit")[0].as<std::string>() == "on");
  }
  BOOST_TEST(read_all(log, Topic::commands).size() == 5u);
  BOOST_TEST(read_all(log, Topic::events).size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_reader_of_several_partitions_takes_them_round_robin_from_its_positions) {
  TestDatabase db;
  PostgresLog log(db.conninfo(), partitions, "test");
  // Partition 3 is busy (40 records), partitions 5 and 9 have 3 each; the reader starts part
  // way into 3 and 9 and reads in polls of 6.
  std::vector<OutRecord> batch;
  for (int i = 0; i < 40; ++i)
    batch.push_back(to_partition(Topic::events, 3, "p3-" + std::to_string(i)));
  for (int i = 0; i < 3; ++i) {
    batch.push_back(to_partition(Topic::events, 5, "p5-" + std::to_string(i)));
    batch.push_back(to_partition(Topic::events, 9, "p9-" + std::to_string(i)));
  }
  batch.push_back(to_partition(Topic::commands, 5, "a command"));
  BOOST_REQUIRE(log.append(batch).has_value());

  auto reader = log.reader();
  reader->assign(Topic::events, {{PartitionId{3}, Offset{10}},
                                 {PartitionId{5}, Offset{0}},
                                 {PartitionId{9}, Offset{1}},
                                 {PartitionId{12}, Offset{0}}});
  auto first = reader->poll(6, 0ms);
  BOOST_REQUIRE(first.has_value());
  // Two rounds of one record per partition that has any, then the busy partition alone.
  std::vector<std::string> values;
  for (const auto& r : *first) values.push_back(r.value);
  BOOST_TEST(values == (std::vector<std::string>{"p3-10", "p3-11", "p5-0", "p5-1", "p9-1", "p9-2"}),
             boost::test_tools::per_element());
  std::vector<std::string> rest;
  while (true) {
    auto more = reader->poll(6, 0ms);
    BOOST_REQUIRE(more.has_value());
    if (more->empty()) break;
    for (const auto& r : *more) {
      BOOST_TEST((r.topic == Topic::events));
      rest.push_back(r.value);
    }
  }
  std::vector<std::string> expected{"p5-2"};
  for (int i = 12; i < 40; ++i) expected.push_back("p3-" + std::to_string(i));
  std::sort(expected.begin(), expected.end());
  std::sort(rest.begin(), rest.end());
  BOOST_TEST(rest == expected, boost::test_tools::per_element());
  BOOST_TEST(reader->at_end(PartitionId{3}));
}

BOOST_AUTO_TEST_CASE(a_reader_skips_only_the_ranges_it_is_told_were_delivered) {
  TestDatabase db;
  PostgresLog log(db.conninfo(), partitions, "test");
  auto values_of = [](const std::vector<Record>& records) {
    std::vector<std::string> values;
    for (const auto& r : records) values.push_back(r.value);
    return values;
  };
  auto append_to_4 = [&](int from, int count) {
    std::vector<OutRecord> batch;
    for (int i = from; i < from + count; ++i)
      batch.push_back(to_partition(Topic::results, 4, "r" + std::to_string(i)));
    BOOST_REQUIRE(log.append(batch).has_value());
  };
  auto reader = log.reader();
  reader->assign(Topic::results, {{PartitionId{4}, Offset{0}}, {PartitionId{6}, Offset{0}}});
  append_to_4(0, 10);  // offsets 0..9

  // [0, 4) delivered elsewhere: the reader starts at 4. [6, 8) lies past records it has not
  // read: it reads 4 and 5 first, then skips 6 and 7.
  reader->skip_delivered(PartitionId{4}, Offset{0}, Offset{4});
  reader->skip_delivered(PartitionId{4}, Offset{6}, Offset{8});
  auto first = reader->poll(2, 0ms);
  BOOST_REQUIRE(first.has_value());
  BOOST_TEST(values_of(*first) == (std::vector<std::string>{"r4", "r5"}),
             boost::test_tools::per_element());
  auto second = reader->poll(10, 0ms);
  BOOST_REQUIRE(second.has_value());
  BOOST_TEST(values_of(*second) == (std::vector<std::string>{"r8", "r9"}),
             boost::test_tools::per_element());

  // A range it already read past is forgotten. Everything delivered: an announced append is
  // not read at all.
  reader->skip_delivered(PartitionId{4}, Offset{2}, Offset{5});
  append_to_4(10, 3);  // offsets 10..12
  reader->skip_delivered(PartitionId{4}, Offset{10}, Offset{13});
  auto third = reader->poll(10, 300ms);
  BOOST_REQUIRE(third.has_value());
  BOOST_TEST(third->empty());
  append_to_4(13, 1);
  auto fourth = reader->poll(10, 5s);
  BOOST_REQUIRE(fourth.has_value());
  BOOST_TEST(values_of(*fourth) == (std::vector<std::string>{"r13"}),
             boost::test_tools::per_element());
}

// audit verify's reader asks for offsets and values only: a one-partition read leaves the key
// and the append time out (empty, zero) and pages through the partition like a full read.
BOOST_AUTO_TEST_CASE(a_reader_of_offsets_and_values_pages_through_a_partition_without_keys) {
  TestDatabase db;
  PostgresLog log(db.conninfo(), partitions, "test");
  std::vector<OutRecord> batch;
  for (int i = 0; i < 7; ++i)
    batch.push_back(to_partition(Topic::events, 3, "v" + std::to_string(i)));
  batch.push_back(to_partition(Topic::events, 5, "other"));
  BOOST_REQUIRE(log.append(batch).has_value());

  auto reader = log.reader();
  reader->read_offsets_and_values_only();
  reader->assign(Topic::events, {{PartitionId{3}, Offset{2}}});
  std::vector<Record> read;
  for (int polls = 0; polls < 10 && read.size() < 5; ++polls) {
    auto page = reader->poll(2, 1s);
    BOOST_REQUIRE(page.has_value());
    BOOST_TEST(page->size() <= 2u);
    read.insert(read.end(), page->begin(), page->end());
  }
  BOOST_REQUIRE_EQUAL(read.size(), 5u);
  for (size_t i = 0; i < read.size(); ++i) {
    BOOST_TEST((read[i].topic == Topic::events));
    BOOST_TEST(read[i].partition.value() == 3);
    BOOST_TEST(read[i].offset.value() == static_cast<int64_t>(i) + 2);
    BOOST_TEST(read[i].value == "v" + std::to_string(i + 2));
    BOOST_TEST(read[i].key.empty());
    BOOST_TEST(read[i].appended_at.time_since_epoch().count() == 0);
  }
  auto past_end = reader->poll(2, 0ms);
  BOOST_REQUIRE(past_end.has_value());
  BOOST_TEST(past_end->empty());
  BOOST_TEST(reader->at_end(PartitionId{3}));
}

BOOST_AUTO_TEST_CASE(an_interrupt_cuts_a_waiting_poll_short_and_reading_goes_on) {
  TestDatabase db;
  PostgresLog log(db.conninfo(), partitions, "test");
  auto reader = log.reader();
  reader->assign(Topic::events, {{PartitionId{2}, Offset{0}}});
  // Raised before the poll: the poll returns at once instead of waiting it out.
  reader->interrupt();
  const auto before = std::chrono::steady_clock::now();
  auto first = reader->poll(10, 60s);
  BOOST_REQUIRE(first.has_value());
  BOOST_TEST(first->empty());
  // Raised from another thread while the poll waits.
  std::jthread stopper([&] {
    std::this_thread::sleep_for(100ms);
    reader->interrupt();
  });
  auto second = reader->poll(10, 60s);
  BOOST_REQUIRE(second.has_value());
  BOOST_TEST(second->empty());
  BOOST_TEST((std::chrono::steady_clock::now() - before < 30s));
  stopper.join();
  // The interrupt is spent: the reader still wakes for an append and reads it.
  std::jthread appender([&] {
    std::this_thread::sleep_for(100ms);
    BOOST_CHECK(log.append({to_partition(Topic::events, 2, "after")}).has_value());
  });
  auto third = reader->poll(10, 30s);
  BOOST_REQUIRE(third.has_value());
  BOOST_REQUIRE_EQUAL(third->size(), 1u);
  BOOST_TEST(third->front().value == "after");
}

BOOST_AUTO_TEST_CASE(an_interrupt_cuts_a_group_consumers_wait_short) {
  TestDatabase db;
  PostgresLog log(db.conninfo(), partitions, "test", fast_group_options());
  RecordingListener listener;
  auto consumer = log.join_group(Topic::commands, "interrupted", listener);
  const auto before = std::chrono::steady_clock::now();
  std::jthread stopper([&] {
    std::this_thread::sleep_for(200ms);
    consumer->interrupt();
  });
  auto polled = consumer->poll(10, 60s);
  BOOST_REQUIRE(polled.has_value());
  BOOST_TEST(polled->empty());
  BOOST_TEST((std::chrono::steady_clock::now() - before < 30s));
  stopper.join();
  consumer->close();
}

BOOST_AUTO_TEST_CASE(announcements_carry_each_partitions_end_and_parse_back) {
  const AppendedEnd e{Topic::results, PartitionId{11}, Offset{4321}};
  BOOST_TEST(announcement_payload(e) == "3:11:4321");
  bool has_end = false;
  auto parsed = parse_announcement("3:11:4321", &has_end);
  BOOST_REQUIRE(parsed.has_value());
  BOOST_TEST(has_end);
  BOOST_TEST((parsed->topic == Topic::results));
  BOOST_TEST(parsed->partition.value() == 11);
  BOOST_TEST(parsed->end.value() == 4321);
  // The older form, without the end, still names the partition.
  parsed = parse_announcement("2:7", &has_end);
  BOOST_REQUIRE(parsed.has_value());
  BOOST_TEST(!has_end);
  BOOST_TEST(parsed->partition.value() == 7);
  for (const char* bad : {"", "2", "9:1:1", "2:-1:5", "2:1:", "2:1:x", "x:1:1", "2:1:1:1", ":1:1"})
    BOOST_TEST(!parse_announcement(bad, nullptr).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(a_read_schedule_reads_everything_first_then_only_what_has_news) {
  TestDatabase db;
  AppendWatch watch(db.conninfo(), partitions);
  auto subscription = watch.subscribe(Topic::events);
  ReadSchedule schedule(partitions);
  std::vector<Position> all;
  for (int p = 0; p < partitions; ++p) all.push_back({PartitionId{p}, Offset{0}});
  const auto now = std::chrono::steady_clock::now();
  auto partitions_of = [](const std::vector<Position>& positions) {
    std::vector<int> out;
    for (const auto& p : positions) out.push_back(p.partition.value());
    return out;
  };

  BOOST_TEST(schedule.due(all, *subscription, now).size() == all.size());
  schedule.after_read(all, 3, 100);  // short of the limit: every partition reached its end
  BOOST_TEST(schedule.due(all, *subscription, now).empty());

  // An append of this process: its partition only, and only while its end is ahead.
  watch.appended(
      {{Topic::events, PartitionId{5}, Offset{2}}, {Topic::commands, PartitionId{6}, Offset{9}}});
  BOOST_TEST(partitions_of(schedule.due(all, *subscription, now)) == std::vector<int>{5},
             boost::test_tools::per_element());
  all[5].offset = Offset{2};
  schedule.after_read({all[5]}, 2, 100);
  BOOST_TEST(schedule.due(all, *subscription, now).empty());

  // A read that filled the limit may have left records behind: that partition again.
  watch.appended({{Topic::events, PartitionId{9}, Offset{500}}});
  schedule.after_read({all[9]}, 100, 100);
  all[9].offset = Offset{100};
  BOOST_TEST(partitions_of(schedule.due(all, *subscription, now)) == std::vector<int>{9},
             boost::test_tools::per_element());
  all[9].offset = Offset{500};
  schedule.after_read({all[9]}, 40, 100);
  BOOST_TEST(schedule.due(all, *subscription, now).empty());

  // A seek back, and the full read at least once a second.
  schedule.read_again(PartitionId{12});
  BOOST_TEST(partitions_of(schedule.due(all, *subscription, now)) == std::vector<int>{12},
             boost::test_tools::per_element());
  schedule.after_read({all[12]}, 0, 100);
  BOOST_TEST(schedule.due(all, *subscription, now + 2s).size() == all.size());
}

BOOST_AUTO_TEST_CASE(a_notify_from_another_process_wakes_the_reader_and_an_old_one_reads_all) {
  TestDatabase db;
  PostgresLog here(db.conninfo(), partitions, "here");
  PostgresLog there(db.conninfo(), partitions, "there");  // another process: its own watch
  BOOST_REQUIRE(there.append({to_partition(Topic::events, 7, "before")}).has_value());
  auto reader = here.reader();
  reader->assign(Topic::events, {{PartitionId{7}, Offset{0}}, {PartitionId{8}, Offset{0}}});
  auto first = reader->poll(10, 0ms);
  BOOST_REQUIRE(first.has_value());
  BOOST_REQUIRE_EQUAL(first->size(), 1u);

  // Only the NOTIFY of the other log's announcer tells this reader: it wakes well before its
  // deadline, and an append to a partition it does not read does not end its wait.
  std::jthread appender([&] {
    std::this_thread::sleep_for(200ms);
    BOOST_CHECK(there.append({to_partition(Topic::events, 9, "elsewhere")}).has_value());
    BOOST_CHECK(there.append({to_partition(Topic::commands, 8, "a command")}).has_value());
    std::this_thread::sleep_for(200ms);
    BOOST_CHECK(there.append({to_partition(Topic::events, 8, "there")}).has_value());
  });
  const auto before = std::chrono::steady_clock::now();
  auto woken = reader->poll(10, 60s);
  BOOST_REQUIRE(woken.has_value());
  BOOST_REQUIRE_EQUAL(woken->size(), 1u);
  BOOST_TEST(woken->front().value == "there");
  BOOST_TEST((std::chrono::steady_clock::now() - before < 30s));
  appender.join();

  // A record whose announcement never came (written past the log's port) is found by the
  // full read that follows a wait that timed out.
  append_unannounced(db.conninfo(), 7, "unannounced");
  std::vector<std::string> found;
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (found.empty() && std::chrono::steady_clock::now() < give_up) {
    auto polled = reader->poll(10, 200ms);
    BOOST_REQUIRE(polled.has_value());
    for (const auto& r : *polled) found.push_back(r.value);
  }
  BOOST_TEST(found == std::vector<std::string>{"unannounced"}, boost::test_tools::per_element());

  // An announcement without an end (an older process) makes the reader read everything.
  append_unannounced(db.conninfo(), 8, "old style");
  {
    auto c = pg::open_connection(db.conninfo());
    pqxx::nontransaction notify(*c);
    notify.exec("SELECT pg_notify('counsel_log', '2:8')");
  }
  auto old_style = reader->poll(10, 60s);
  BOOST_REQUIRE(old_style.has_value());
  BOOST_REQUIRE_EQUAL(old_style->size(), 1u);
  BOOST_TEST(old_style->front().value == "old style");
}

BOOST_AUTO_TEST_CASE(group_consumers_get_every_record_once_from_local_and_remote_appends) {
  TestDatabase db;
  PostgresLog here(db.conninfo(), partitions, "here", fast_group_options());
  PostgresLog there(db.conninfo(), partitions, "there", fast_group_options());
  RecordingListener listener;
  auto consumer = here.join_group(Topic::commands, "everything-once", listener);
  // Small polls against appends from both logs to few partitions at a time: the consumer
  // reads partitions with news, and some reads stop at the limit.
  constexpr int kPerLog = 300;
  std::jthread local([&] {
    for (int i = 0; i < kPerLog; i += 3)
      BOOST_CHECK(
          here.append(
                  {to_partition(Topic::commands, i % partitions, "h" + std::to_string(i)),
                   to_partition(Topic::commands, (i + 1) % partitions, "h" + std::to_string(i + 1)),
                   to_partition(Topic::commands, (i + 2) % partitions,
                                "h" + std::to_string(i + 2))})
              .has_value());
  });
  std::jthread remote([&] {
    for (int i = 0; i < kPerLog; ++i)
      BOOST_CHECK(there
                      .append({to_partition(Topic::commands, (i * 7) % partitions,
                                            "t" + std::to_string(i))})
                      .has_value());
  });
  std::map<int, int64_t> next_offset;
  std::set<std::string> seen;
  size_t received = 0;
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (received < 2 * kPerLog && std::chrono::steady_clock::now() < give_up) {
    auto polled = consumer->poll(7, 500ms);
    BOOST_REQUIRE(polled.has_value());
    for (const auto& r : *polled) {
      // In order and without gaps per partition.
      BOOST_TEST(r.offset.value() == next_offset[r.partition.value()]);
      next_offset[r.partition.value()] = r.offset.value() + 1;
      seen.insert(r.value);
      ++received;
    }
  }
  BOOST_TEST(received == static_cast<size_t>(2 * kPerLog));
  BOOST_TEST(seen.size() == static_cast<size_t>(2 * kPerLog));
  consumer->close();
}

BOOST_AUTO_TEST_CASE(a_superseded_lease_is_fenced) {
  TestDatabase db;
  PostgresLog log(db.conninfo(), partitions, "member-1", fast_group_options());
  RecordingListener listener;
  auto consumer = join_owning_everything(log, listener);

  auto& lease = listener.lease(3);
  BOOST_REQUIRE(lease.commit({to_partition(Topic::results, 3, "ok")}, Offset{1}).has_value());

  // Someone else took partition 3 over (as a new owner's epoch bump does).
  {
    auto c = pg::open_connection(db.conninfo());
    pqxx::nontransaction tx(*c);
    tx.exec(
        "UPDATE log.partition_owners SET epoch = epoch + 1 "
        "WHERE grp = 'processor' AND partition = 3");
  }
  auto fenced = lease.commit({to_partition(Topic::results, 3, "late")}, Offset{2});
  BOOST_REQUIRE(!fenced.has_value());
  BOOST_TEST(fenced.error().fenced);
  BOOST_TEST(!fenced.error().is_retryable);
  auto end = log.end_offset(Topic::results, PartitionId{3});
  BOOST_REQUIRE(end.has_value());
  BOOST_TEST(end->value() == 1);  // the late record never landed
  BOOST_TEST(stored_position(db.conninfo(), 3) == 1);
}

// A processor's group commit is one statement: every lease's records and position, or, when
// any one of its leases has a newer owner, nothing for any of them.
BOOST_AUTO_TEST_CASE(a_group_commit_lands_whole_or_not_at_all_when_one_lease_is_superseded) {
  TestDatabase db;
  PostgresLog log(db.conninfo(), partitions, "member-1", fast_group_options());
  RecordingListener listener;
  auto consumer = join_owning_everything(log, listener);
  const auto position = [&](int p) { return stored_position(db.conninfo(), p); };
  const auto end = [&](int p) { return log.end_offset(Topic::results, PartitionId{p})->value(); };

  const std::vector<OutRecord> to_3{to_partition(Topic::results, 3, "a"),
                                    to_partition(Topic::results, 3, "b")};
  const std::vector<OutRecord> to_9{to_partition(Topic::results, 9, "c")};
  auto both = consumer->commit_together(
      {{&listener.lease(3), &to_3, Offset{4}}, {&listener.lease(9), &to_9, Offset{7}}});
  BOOST_REQUIRE_MESSAGE(both.has_value(), (both ? std::string() : both.error().message));
  BOOST_REQUIRE_EQUAL(both->size(), 2u);
  BOOST_REQUIRE_EQUAL((*both)[0].size(), 2u);
  BOOST_TEST((*both)[0][1].partition.value() == 3);
  BOOST_TEST((*both)[0][1].offset.value() == 1);
  BOOST_TEST((*both)[1][0].partition.value() == 9);
  BOOST_TEST((*both)[1][0].offset.value() == 0);
  BOOST_TEST(position(3) == 4);
  BOOST_TEST(position(9) == 7);
  BOOST_TEST(listener.lease(9).consumed().value() == 7);

  // Partition 9 is taken over; a commit naming it with partition 3 lands for neither.
  BOOST_TEST(scalar(db.conninfo(),
                    "WITH b AS (UPDATE log.partition_owners SET epoch = epoch + 1"
                    " WHERE grp = 'processor' AND partition = 9 RETURNING 1)"
                    " SELECT count(*) FROM b") == 1);
  const std::vector<OutRecord> more_3{to_partition(Topic::results, 3, "late-a")};
  const std::vector<OutRecord> more_9{to_partition(Topic::results, 9, "late-c")};
  auto fenced = consumer->commit_together(
      {{&listener.lease(3), &more_3, Offset{5}}, {&listener.lease(9), &more_9, Offset{8}}});
  BOOST_REQUIRE(!fenced.has_value());
  BOOST_TEST(fenced.error().fenced);
  BOOST_TEST(fenced.error().message.find("partition 9") != std::string::npos,
             fenced.error().message);
  BOOST_TEST(end(3) == 2);
  BOOST_TEST(end(9) == 1);
  BOOST_TEST(position(3) == 4);
  BOOST_TEST(position(9) == 7);
  BOOST_TEST(listener.lease(3).consumed().value() == 4);

  // Partition 3 alone still commits, and a commit of nothing but a position stores it.
  const std::vector<OutRecord> none;
  BOOST_REQUIRE(consumer->commit_together({{&listener.lease(3), &more_3, Offset{5}}}));
  BOOST_TEST(end(3) == 3);
  BOOST_REQUIRE(listener.lease(3).commit(none, Offset{6}).has_value());
  BOOST_TEST(position(3) == 6);
  BOOST_TEST(end(3) == 3);
}

BOOST_AUTO_TEST_CASE(a_group_commits_hook_runs_before_this_processs_readers_hear_of_it) {
  TestDatabase db;
  PostgresLog log(db.conninfo(), partitions, "member-1", fast_group_options());
  RecordingListener listener;
  auto consumer = join_owning_everything(log, listener);
  auto reader = log.reader();
  reader->assign(Topic::results, {{PartitionId{3}, Offset{0}}, {PartitionId{9}, Offset{0}}});
  auto nothing_yet = reader->poll(10, 0ms);
  BOOST_REQUIRE(nothing_yet.has_value());
  BOOST_TEST(nothing_yet->empty());

  // A reader waits while the group commits; the hook tells it of partition 3's records. Woken
  // by the commit's announcement, it finds partition 3 delivered and reads only partition 9.
  std::optional<Result<std::vector<Record>>> read;
  std::jthread waiting([&] { read = reader->poll(10, 10s); });
  std::this_thread::sleep_for(500ms);  // waiting for an announcement by then
  const std::vector<OutRecord> to_3{to_partition(Topic::results, 3, "a"),
                                    to_partition(Topic::results, 3, "b")};
  const std::vector<OutRecord> to_9{to_partition(Topic::results, 9, "c")};
  std::vector<std::vector<Position>> seen;
  auto committed = consumer->commit_together(
      {{&listener.lease(3), &to_3, Offset{1}}, {&listener.lease(9), &to_9, Offset{1}}},
      [&](const std::vector<std::vector<Position>>& positions) {
        seen = positions;
        reader->skip_delivered(PartitionId{3}, positions[0].front().offset,
                               Offset{positions[0].back().offset.value() + 1});
        throw std::runtime_error("a hook's failure is not the commit's");
      });
  BOOST_REQUIRE_MESSAGE(committed.has_value(),
                        (committed ? std::string() : committed.error().message));
  BOOST_TEST((seen == *committed));
  waiting.join();
  BOOST_REQUIRE(read.has_value());
  BOOST_REQUIRE(read->has_value());
  BOOST_REQUIRE_EQUAL((*read)->size(), 1u);
  BOOST_TEST((*read)->front().value == "c");
}

BOOST_AUTO_TEST_CASE(a_lost_session_revokes_everything_and_the_member_rejoins) {
  TestDatabase db;
  PostgresLog log1(db.conninfo(), partitions, "member-1", fast_group_options());
  PostgresLog log2(db.conninfo(), partitions, "member-2", fast_group_options());
  RecordingListener listener1;
  RecordingListener listener2;
  auto consumer1 = join_owning_everything(log1, listener1);
  auto stalled_lease = listener1.take_lease(5);

  // Kill every session of this database but ours: member 1's locks are gone.
  BOOST_TEST(scalar(db.conninfo(),
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()") >= 1);
  auto lost = consumer1->poll(10, 100ms);
  BOOST_REQUIRE(!lost.has_value());
  BOOST_TEST(lost.error().is_retryable);
  BOOST_TEST(listener1.owned() == 0u);

  auto consumer2 = join_owning_everything(log2, listener2);
  auto late = stalled_lease->commit({to_partition(Topic::events, 5, "stale")}, Offset{9});
  BOOST_REQUIRE(!late.has_value());
  BOOST_TEST(late.error().fenced);

  // Member 1 reconnects and gets its share back; the log's pool recovered too.
  BOOST_REQUIRE_MESSAGE(
      poll_until({consumer1.get(), consumer2.get()},
                 [&] { return listener1.owned() == 8 && listener2.owned() == 8; }),
      "split is " << listener1.owned() << "/" << listener2.owned());
  auto after = log1.append({event("after", "reconnect")});
  BOOST_TEST(after.has_value(), (after ? std::string() : after.error().message));
}

BOOST_AUTO_TEST_CASE(commit_stores_records_and_position_atomically) {
  TestDatabase db;
  PostgresLog log(db.conninfo(), partitions, "member-1", fast_group_options());
  RecordingListener listener;
  auto consumer = join_owning_everything(log, listener);

  const int p = log.partition_for("counselor-x").value();
  BOOST_REQUIRE(
      log.append({to_partition(Topic::commands, p, "c0"), to_partition(Topic::commands, p, "c1")}));
  std::vector<Record> commands;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (commands.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    auto batch = consumer->poll(10, 100ms);
    BOOST_REQUIRE(batch.has_value());
    commands.insert(commands.end(), batch->begin(), batch->end());
  }
  BOOST_REQUIRE_EQUAL(commands.size(), 2u);
  BOOST_TEST(commands[1].offset.value() == 1);

  auto& lease = listener.lease(p);
  BOOST_TEST(lease.consumed().value() == 0);
  auto committed = lease.commit({event("counselor-x", "e0"), event("counselor-x", "e1"),
                                 to_partition(Topic::results, p, "r0")},
                                Offset{2});
  BOOST_REQUIRE(committed.has_value());
  BOOST_REQUIRE_EQUAL(committed->size(), 3u);
  BOOST_TEST((*committed)[0].partition.value() == p);
  BOOST_TEST((*committed)[1].offset.value() == 1);
  BOOST_TEST(lease.consumed().value() == 2);
  BOOST_TEST(stored_position(db.conninfo(), p) == 2);

  // A commit that fails half-way (the server rejects invalid UTF-8) stores nothing at all.
  auto failed =
      lease.commit({event("counselor-x", "e2"), event("counselor-x", "bad \xff\xfe")}, Offset{3});
  BOOST_REQUIRE(!failed.has_value());
  BOOST_TEST(!failed.error().fenced);
  BOOST_TEST(stored_position(db.conninfo(), p) == 2);
  auto end = log.end_offset(Topic::events, PartitionId{p});
  BOOST_REQUIRE(end.has_value());
  BOOST_TEST(end->value() == 2);

  // The next owner starts from the committed position.
  consumer->close();
  RecordingListener next_listener;
  auto next = join_owning_everything(log, next_listener);
  BOOST_TEST(next_listener.lease(p).consumed().value() == 2);
  BOOST_TEST(next_listener.lease(p).epoch().value() == 2);
}

BOOST_AUTO_TEST_SUITE_END()
