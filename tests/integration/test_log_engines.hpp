#pragma once
// Both log engines behind one test fixture, so every integration test that touches the log runs
// on each of them (Boost.Test data-driven cases over log_engines()) without copying the test.
// postgres: the log schema of a TestDatabase. kafka: a librdkafka mock cluster (3 brokers, real
// Kafka protocol over loopback) started per TestLog with the counsel topics created.
//
// COUNSEL_TEST_LOG (postgres | kafka) narrows log_engines() to one engine: ctest registers each
// such suite once per engine so the two run (and fail) separately.
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "infra/log/kafka_log.hpp"
#include "infra/log/kafka_mock_cluster.hpp"
#include "infra/log/log.hpp"
#include "infra/log/postgres_log.hpp"
#include "tests/integration/test_database.hpp"

namespace counsel::testing {

inline std::vector<std::string> log_engines() {
  const char* only = std::getenv("COUNSEL_TEST_LOG");
  if (only != nullptr && *only != '\0') {
    const std::string engine(only);
    if (engine != "postgres" && engine != "kafka")
      throw std::runtime_error("COUNSEL_TEST_LOG must be postgres or kafka, not " + engine);
    return {engine};
  }
  return {"postgres", "kafka"};
}

// librdkafka settings for a `counsel` process started with --log kafka against the mock cluster
// (in-process logs get the same through KafkaLogOptions::mock): the mock's group coordinator
// holds a rebalance for session.timeout.ms - 1 s, so 6 s keeps a join or a takeover at ~5 s
// (librdkafka's default of 45 s would make every group test crawl), and the mock answers an
// empty fetch only after fetch.wait.max.ms, which would otherwise add 500 ms to every read.
inline std::string kafka_mock_client_settings() {
  return "session.timeout.ms=6000,heartbeat.interval.ms=500,fetch.wait.max.ms=10";
}

class TestLog {
 public:
  // `conninfo` is the database of the postgres engine; the kafka engine ignores it (its read
  // models, if any, still live in that database).
  TestLog(std::string engine, std::string conninfo, int partitions, std::string member = "test")
      : engine_(std::move(engine)), conninfo_(std::move(conninfo)), partitions_(partitions) {
    if (engine_ == "kafka") {
      mock_ = std::make_unique<log::KafkaMockCluster>(3);
      mock_->create_topics(partitions_);
    } else if (engine_ != "postgres") {
      throw std::invalid_argument("unknown log engine " + engine_);
    }
    log_ = open_member(member);
  }

  TestLog(const std::string& engine, const TestDatabase& db, int partitions,
          std::string member = "test")
      : TestLog(engine, db.conninfo(), partitions, std::move(member)) {}

  TestLog(const TestLog&) = delete;
  TestLog& operator=(const TestLog&) = delete;

  log::Log& log() { return *log_; }
  log::Log& operator*() { return *log_; }
  log::Log* operator->() { return log_.get(); }

  // Another member (process) on the same backing store: the same database or the same cluster.
  // Destroy it before this TestLog.
  std::unique_ptr<log::Log> open_member(const std::string& member) const {
    if (engine_ == "postgres") {
      log::PostgresLogOptions options;
      // Quick membership, so takeovers in tests are a matter of a second or two.
      options.heartbeat_interval = std::chrono::milliseconds(300);
      options.member_timeout = std::chrono::seconds(2);
      options.acquire_interval = std::chrono::milliseconds(100);
      return log::make_postgres_log(conninfo_, partitions_, member, options);
    }
    log::KafkaLogOptions options;
    options.brokers = mock_->bootstrap_servers();
    options.partitions = partitions_;
    options.member = member;
    options.mock = true;
    return log::make_kafka_log(options);
  }

  const std::string& engine() const { return engine_; }
  bool is_kafka() const { return engine_ == "kafka"; }
  int partitions() const { return partitions_; }
  // The mock cluster behind the kafka engine (fault injection), nullptr on postgres.
  log::KafkaMockCluster* kafka_mock() const { return mock_.get(); }
  std::string bootstrap_servers() const { return mock_ ? mock_->bootstrap_servers() : ""; }

  // How long a group change (join, split, takeover) may take: a Kafka rebalance on the mock
  // waits ~5 s per round and a change can need two rounds.
  std::chrono::milliseconds rebalance_limit() const {
    return is_kafka() ? std::chrono::seconds(40) : std::chrono::seconds(15);
  }

 private:
  const std::string engine_;
  const std::string conninfo_;
  const int partitions_;
  std::unique_ptr<log::KafkaMockCluster> mock_;  // declared first: outlives every client
  std::unique_ptr<log::Log> log_;
};

// Every record of `topic`, partition by partition in offset order, up to the end offsets the
// log reports when called. Works on both engines (a Kafka fetch can come back empty before
// the data arrives, so this reads until each partition's end is reached).
inline std::vector<log::Record> read_all(
    log::Log& log, log::Topic topic, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  std::vector<log::Position> from;
  std::map<int32_t, int64_t> end;
  for (int p = 0; p < log.partition_count(); ++p) {
    auto e = log.end_offset(topic, log::PartitionId{p});
    if (!e) throw std::runtime_error("end_offset failed: " + e.error().message);
    if (e->value() > 0) {
      end[p] = e->value();
      from.push_back({log::PartitionId{p}, log::Offset{0}});
    }
  }
  std::vector<log::Record> out;
  if (from.empty()) return out;
  auto reader = log.reader();
  reader->assign(topic, from);
  std::map<int32_t, int64_t> next;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  auto done = [&] {
    for (const auto& [p, e] : end)
      if (next[p] < e) return false;
    return true;
  };
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    auto batch = reader->poll(1000, std::chrono::milliseconds(100));
    if (!batch) throw std::runtime_error("poll failed: " + batch.error().message);
    for (auto& r : *batch) {
      const int32_t p = r.partition.value();
      if (r.offset.value() >= end[p]) continue;  // appended after the call
      next[p] = r.offset.value() + 1;
      out.push_back(std::move(r));
    }
  }
  if (!done()) throw std::runtime_error("read_all did not reach the end of the topic");
  return out;
}

inline size_t count_records(log::Log& log, log::Topic topic) {
  return read_all(log, topic).size();
}

// Polls until `pred` holds or the time is up; returns the last value of `pred`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(15)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace counsel::testing
