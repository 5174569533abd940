// The Kafka log engine under faults injected into librdkafka's mock cluster: a partition
// leader going down (with and without a failover), leaders moving while records are
// appended, retriable errors on produce and fetch requests, the whole cluster unreachable.
// Whatever the fault, an acknowledged append is readable exactly once (the idempotent
// producer's sequence numbers stop retried batches from landing twice), and a failure is a
// retryable error, never a hang or a crash.
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "infra/log/kafka_log.hpp"
#include "infra/log/kafka_mock_cluster.hpp"

using namespace counsel;
using namespace counsel::log;
using namespace std::chrono_literals;

namespace {

constexpr int partitions = 4;
const std::string events_topic(topic_name(Topic::events));

struct MockWithTopics {
  MockWithTopics() {
    cluster.create_topics(partitions);
    // Known leaders, so a test knows which broker to take down.
    for (int p = 0; p < partitions; ++p) cluster.set_partition_leader(events_topic, p, 1);
  }
  KafkaMockCluster cluster{3};
};

KafkaLogOptions options_for(const KafkaMockCluster& cluster) {
  KafkaLogOptions options;
  options.brokers = cluster.bootstrap_servers();
  options.partitions = partitions;
  options.member = "faults";
  options.mock = true;
  options.delivery_timeout = 3000ms;
  options.request_timeout = 1000ms;
  return options;
}

OutRecord to_partition(int partition, std::string value) {
  return OutRecord{Topic::events, "key-" + std::to_string(partition), std::move(value),
                   PartitionId{partition}};
}

// Every record in the events topic. Reads up to each partition's end offset: under injected
// fetch errors a poll may come back empty before the reader has caught up.
std::vector<Record> read_events(Log& log) {
  std::map<int, int64_t> end;
  std::vector<Position> from;
  for (int p = 0; p < partitions; ++p) {
    from.push_back({PartitionId{p}, Offset{0}});
    auto end_offset = log.end_offset(Topic::events, PartitionId{p});
    BOOST_REQUIRE_MESSAGE(end_offset.has_value(),
                          (end_offset ? std::string() : end_offset.error().message));
    end[p] = end_offset->value();
  }
  auto reader = log.reader();
  reader->assign(Topic::events, from);
  std::map<int, int64_t> next;
  auto behind = [&] {
    for (const auto& [p, e] : end) {
      if (next[p] < e) return true;
    }
    return false;
  };
  std::vector<Record> out;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (behind() && std::chrono::steady_clock::now() < deadline) {
    auto batch = reader->poll(1000, 500ms);
    if (!batch) {
      BOOST_TEST_MESSAGE("poll failed, retrying: " << batch.error().message);
      continue;
    }
    for (const auto& r : *batch) next[r.partition.value()] = r.offset.value() + 1;
    out.insert(out.end(), batch->begin(), batch->end());
  }
  BOOST_TEST(!behind(), "the reader never caught up");
  return out;
}

// What the appenders were told: acknowledged (with the position) or failed.
class AppendLedger {
 public:
  void append(Log& log, const OutRecord& record) {
    auto appended = log.append({record});
    std::lock_guard lock(mutex_);
    if (appended) {
      acknowledged_[record.value] = (*appended)[0];
    } else {
      BOOST_CHECK_MESSAGE(appended.error().is_retryable,
                          "not retryable: " << appended.error().message);
      BOOST_CHECK(!appended.error().fenced);
      BOOST_CHECK(appended.error().message.find("unreachable") != std::string::npos);
      failed_.insert(record.value);
    }
  }
  size_t acknowledged() {
    std::lock_guard lock(mutex_);
    return acknowledged_.size();
  }
  size_t failed() {
    std::lock_guard lock(mutex_);
    return failed_.size();
  }

  // Every acknowledged record exactly once, at its acknowledged position; a failed one at
  // most once (its outcome was unknown to the caller); nothing else.
  void check_against(const std::vector<Record>& records) {
    std::lock_guard lock(mutex_);
    std::map<std::string, int> seen;
    for (const auto& r : records) {
      ++seen[r.value];
      if (auto it = acknowledged_.find(r.value); it != acknowledged_.end()) {
        BOOST_TEST(r.partition.value() == it->second.partition.value());
        BOOST_TEST(r.offset.value() == it->second.offset.value());
      } else {
        BOOST_TEST(failed_.contains(r.value), "unexpected record " << r.value);
      }
    }
    for (const auto& [value, count] : seen)
      BOOST_TEST(count == 1, value << " read " << count << " times");
    for (const auto& [value, position] : acknowledged_) {
      BOOST_TEST(seen.contains(value), "acknowledged " << value << " is lost");
    }
  }

 private:
  std::mutex mutex_;
  std::map<std::string, Position> acknowledged_;
  std::set<std::string> failed_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(kafka_faults_test)

BOOST_AUTO_TEST_CASE(a_leader_down_fails_over_or_fails_retryably_and_loses_nothing) {
  MockWithTopics mock;
  KafkaLog log(options_for(mock.cluster));
  AppendLedger ledger;
  for (int i = 0; i < 5; ++i) ledger.append(log, to_partition(1, "before-" + std::to_string(i)));
  BOOST_REQUIRE_EQUAL(ledger.acknowledged(), 5u);

  // Broker 1 (leader of every events partition) goes down; a second later partition 1 moves
  // to broker 2, as a controller would elect a new leader.
  mock.cluster.set_broker_down(1);
  std::thread elect([&] {
    std::this_thread::sleep_for(1s);
    mock.cluster.set_partition_leader(events_topic, 1, 2);
  });
  const auto outage_started = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) ledger.append(log, to_partition(1, "during-" + std::to_string(i)));
  elect.join();
  BOOST_TEST_MESSAGE(
      "during the failover: "
      << ledger.acknowledged() - 5 << " acknowledged, " << ledger.failed() << " failed, in "
      << std::chrono::duration<double>(std::chrono::steady_clock::now() - outage_started).count()
      << " s");
  // Partition 0 stays on the dead broker: appends there fail, retryably, within the bound.
  const auto stuck_started = std::chrono::steady_clock::now();
  ledger.append(log, to_partition(0, "stuck"));
  BOOST_TEST((std::chrono::steady_clock::now() - stuck_started < 6s));

  mock.cluster.set_broker_up(1);
  for (int i = 0; i < 5; ++i) ledger.append(log, to_partition(1, "after-" + std::to_string(i)));
  for (int i = 0; i < 3; ++i) ledger.append(log, to_partition(0, "back-" + std::to_string(i)));
  BOOST_TEST(ledger.acknowledged() >= 13u);
  ledger.check_against(read_events(log));
}

BOOST_AUTO_TEST_CASE(leaders_moving_during_appends_lose_and_duplicate_nothing) {
  MockWithTopics mock;
  KafkaLog log(options_for(mock.cluster));
  AppendLedger ledger;
  std::atomic<bool> appending{true};
  std::thread mover([&] {
    int broker = 1;
    while (appending) {
      broker = broker % 3 + 1;
      for (int p = 0; p < partitions; ++p) {
        mock.cluster.set_partition_leader(events_topic, p, (broker + p) % 3 + 1);
      }
      std::this_thread::sleep_for(150ms);
    }
  });
  std::vector<std::thread> appenders;
  for (int t = 0; t < 2; ++t) {
    appenders.emplace_back([&, t] {
      for (int i = 0; i < 80; ++i) {
        ledger.append(log,
                      to_partition(i % partitions, std::to_string(t) + ":" + std::to_string(i)));
      }
    });
  }
  for (auto& a : appenders) a.join();
  appending = false;
  mover.join();
  BOOST_TEST_MESSAGE(ledger.acknowledged() << " acknowledged, " << ledger.failed() << " failed");
  BOOST_TEST(ledger.acknowledged() >= 150u);
  const auto records = read_events(log);
  ledger.check_against(records);
  // Each appender's records keep their order within a partition.
  std::map<std::pair<int, std::string>, int> last;
  for (const auto& r : records) {
    const auto colon = r.value.find(':');
    const std::pair key{r.partition.value(), r.value.substr(0, colon)};
    const int i = std::stoi(r.value.substr(colon + 1));
    if (last.contains(key)) BOOST_TEST(i > last[key]);
    last[key] = i;
  }
}

BOOST_AUTO_TEST_CASE(retriable_produce_and_fetch_errors_lose_and_duplicate_nothing) {
  MockWithTopics mock;
  KafkaLog log(options_for(mock.cluster));
  AppendLedger ledger;
  mock.cluster.push_request_errors(kafka_api::produce, 3,
                                   RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  mock.cluster.push_request_errors(kafka_api::produce, 3, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
  for (int i = 0; i < 30; ++i)
    ledger.append(log, to_partition(i % partitions, "r" + std::to_string(i)));
  BOOST_TEST(ledger.acknowledged() == 30u);

  mock.cluster.push_request_errors(kafka_api::fetch, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  mock.cluster.push_request_errors(kafka_api::fetch, 4, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
  ledger.check_against(read_events(log));

  // A lease commit retries its transactional produce the same way.
  struct KeepLeases : RebalanceListener {
    std::vector<std::unique_ptr<PartitionLease>> leases;
    void on_assigned(std::vector<std::unique_ptr<PartitionLease>> assigned) override {
      for (auto& lease : assigned) leases.push_back(std::move(lease));
    }
    void on_revoked(const std::vector<PartitionId>&) override { leases.clear(); }
  } listener;
  auto consumer = log.join_group(Topic::commands, "processor", listener);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (listener.leases.size() < static_cast<size_t>(partitions) &&
         std::chrono::steady_clock::now() < deadline) {
    (void)consumer->poll(10, 50ms);
  }
  BOOST_REQUIRE_EQUAL(listener.leases.size(), static_cast<size_t>(partitions));
  mock.cluster.push_request_errors(kafka_api::produce, 2, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
  auto committed = listener.leases[0]->commit(
      {to_partition(2, "committed-0"), to_partition(3, "committed-1")}, Offset{0});
  BOOST_REQUIRE_MESSAGE(committed.has_value(), (committed ? "" : committed.error().message));
  int found = 0;
  for (const auto& r : read_events(log)) {
    if (r.value.rfind("committed-", 0) == 0) ++found;
  }
  BOOST_TEST(found == 2);
  consumer->close();
}

BOOST_AUTO_TEST_CASE(an_unreachable_cluster_is_a_retryable_error_and_recovery_is_automatic) {
  MockWithTopics mock;
  KafkaLog log(options_for(mock.cluster));
  AppendLedger ledger;
  ledger.append(log, to_partition(2, "first"));
  BOOST_REQUIRE_EQUAL(ledger.acknowledged(), 1u);

  for (int broker = 1; broker <= 3; ++broker) mock.cluster.set_broker_down(broker);
  const auto started = std::chrono::steady_clock::now();
  ledger.append(log, to_partition(2, "lost-in-the-outage"));
  const auto waited = std::chrono::steady_clock::now() - started;
  BOOST_TEST(ledger.failed() == 1u);
  BOOST_TEST((waited < 6s));
  auto ping = log.ping();
  BOOST_REQUIRE(!ping.has_value());
  BOOST_TEST(ping.error().is_retryable);
  const auto end_started = std::chrono::steady_clock::now();
  auto end = log.end_offset(Topic::events, PartitionId{2});
  BOOST_REQUIRE(!end.has_value());
  BOOST_TEST(end.error().is_retryable);
  BOOST_TEST((std::chrono::steady_clock::now() - end_started < 5s));

  for (int broker = 1; broker <= 3; ++broker) mock.cluster.set_broker_up(broker);
  // The same log object recovers by itself once the brokers are back.
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (!log.ping().has_value() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  BOOST_TEST(log.ping().has_value());
  ledger.append(log, to_partition(2, "after"));
  BOOST_TEST(ledger.acknowledged() == 2u);
  ledger.check_against(read_events(log));
}

BOOST_AUTO_TEST_SUITE_END()
