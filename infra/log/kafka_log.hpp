#pragma once
// The Kafka log engine: the log port on Apache Kafka through librdkafka.
//
// Topics counsel.commands.v1, counsel.events.v1 (kept forever: the system of record and the
// audit stream) and counsel.results.v1 (short retention), all with the same partition count,
// created at start-up when missing. Appends go through one idempotent producer (acks=all) with
// the partition named explicitly (our murmur2, as Java clients compute it). Partition
// ownership is a consumer group (eager range assignment); each group member commits through its
// own transactional producer, with the consumed offsets sent to the transaction (KIP-447), so
// the records and the position commit together and a zombie member is fenced. Readers use
// read_committed and manual assignment.
//
// Offsets are not dense: transaction markers occupy offsets that readers never see.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "infra/log/log.hpp"

namespace counsel::log {

struct KafkaLogOptions {
  std::string brokers;  // bootstrap.servers
  int partitions = 16;
  // Names this process in the cluster (client.id) and its transactional producers
  // (transactional.id = group + "-" + member): a restarted member with the same name fences
  // its predecessor. Must be unique among live processes.
  std::string member;
  // Passed to every librdkafka client: security.protocol, sasl.*, ssl.*, tuning. Values of
  // secret settings are never logged.
  std::vector<std::pair<std::string, std::string>> extra_config;
  // Against librdkafka's mock cluster: short session timeout (a mock rebalance waits for it)
  // and short fetch waits (the mock does not answer a waiting fetch early when data arrives).
  bool mock = false;
  // How long an append or a lease commit may wait for the cluster's acknowledgement.
  std::chrono::milliseconds delivery_timeout{10000};
  // Metadata, watermark and ping requests.
  std::chrono::milliseconds request_timeout{3000};
  // Test hook: runs inside a lease commit after the transaction's records were produced and
  // before it commits (tests crash the process here to prove command-id dedupe).
  std::function<void()> before_transaction_commit;
};

namespace kafka {
class Client;
class AppendProducer;
class TransactionalIds;
class KnownTopics;
struct EngineConfig;
}  // namespace kafka

class KafkaLog : public Log {
 public:
  // Connects, and makes sure the three topics exist with options.partitions partitions
  // (creating missing ones through the Admin API). Throws std::runtime_error if the cluster
  // cannot be reached, a topic cannot be created, or a topic exists with another partition
  // count (keys would map to other partitions).
  explicit KafkaLog(KafkaLogOptions options);
  ~KafkaLog() override;

  int partition_count() const override { return options_.partitions; }
  Result<std::vector<Position>> append(const std::vector<OutRecord>& records) override;
  Result<Offset> end_offset(Topic topic, PartitionId partition) override;
  std::unique_ptr<LogReader> reader() override;
  std::unique_ptr<GroupConsumer> join_group(Topic topic, const std::string& group,
                                            RebalanceListener& listener) override;
  Result<bool> ping() override;
  bool dense_offsets() const override { return false; }
  std::string engine_name() const override { return "kafka"; }

  const KafkaLogOptions& options() const { return options_; }

 private:
  void ensure_topics();
  std::shared_ptr<kafka::AppendProducer> append_producer();
  void replace_broken_producer(const std::shared_ptr<kafka::AppendProducer>& broken);

  const KafkaLogOptions options_;
  std::unique_ptr<kafka::EngineConfig> config_;
  std::unique_ptr<kafka::Client> admin_;              // metadata, watermarks, CreateTopics, ping
  std::unique_ptr<kafka::KnownTopics> admin_topics_;  // what a metadata refresh asks about
  std::mutex producer_mutex_;
  std::shared_ptr<kafka::AppendProducer> producer_;  // replaced after a fatal error
  std::shared_ptr<kafka::TransactionalIds> transactional_ids_;
};

std::unique_ptr<KafkaLog> make_kafka_log(KafkaLogOptions options);

}  // namespace counsel::log
