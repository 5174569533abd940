#pragma once
// librdkafka's in-process mock Kafka cluster (rdkafka_mock.h): real Kafka-protocol brokers on
// localhost ports, for tests and `--log kafka-mock`. Volatile: everything is gone when the
// object is. It runs on librdkafka's own threads; any Kafka client (ours, kcat) can connect
// to bootstrap_servers() while it lives.
//
// Limits of the mock in librdkafka 2.0.2: transactions are accepted but not enforced (no
// control markers, send_offsets_to_transaction stores nothing), each partition keeps ~5 MiB
// or 100k batches, the Admin API's CreateTopics fails (hence create_topics here), a rebalance
// waits session.timeout.ms - 1 s.
//
// One difference from a Kafka broker is mended here: the mock's broker sockets keep Nagle's
// algorithm on, where a broker sets TCP_NODELAY. A response written while the previous one on
// the connection is unacknowledged then waits for the client's delayed ACK, 40 ms on Linux:
// a transaction (several produce responses in flight) took ~45 ms to commit instead of ~1 ms,
// and every Kafka-engine figure measured on the mock carried those stalls.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

typedef struct rd_kafka_mock_cluster_s rd_kafka_mock_cluster_t;

namespace counsel::log {

// Kafka protocol request types, for push_request_errors (librdkafka keeps its RD_KAFKAP_*
// constants in a private header).
namespace kafka_api {
constexpr int16_t produce = 0;
constexpr int16_t fetch = 1;
constexpr int16_t list_offsets = 2;
constexpr int16_t metadata = 3;
constexpr int16_t offset_commit = 8;
constexpr int16_t offset_fetch = 9;
constexpr int16_t find_coordinator = 10;
constexpr int16_t join_group = 11;
constexpr int16_t heartbeat = 12;
constexpr int16_t sync_group = 14;
constexpr int16_t init_producer_id = 22;
constexpr int16_t add_partitions_to_txn = 24;
constexpr int16_t end_txn = 26;
}  // namespace kafka_api

class KafkaMockCluster {
 public:
  // Brokers get the ids 1..brokers.
  explicit KafkaMockCluster(int brokers = 3);
  ~KafkaMockCluster();
  KafkaMockCluster(const KafkaMockCluster&) = delete;
  KafkaMockCluster& operator=(const KafkaMockCluster&) = delete;

  const std::string& bootstrap_servers() const { return bootstrap_servers_; }
  int broker_count() const { return brokers_; }

  // Creates counsel.commands.v1, counsel.events.v1 and counsel.results.v1 with `partitions`
  // each (what KafkaLog does through the Admin API on a real cluster). Throws
  // std::runtime_error if the mock refuses.
  void create_topics(int partitions, int replication_factor = 3);
  void create_topic(const std::string& name, int partitions, int replication_factor = 3);

  // Fault injection. A broker that is down refuses connections; it stays the leader of its
  // partitions (the mock never elects a new one by itself) until set_partition_leader moves
  // them.
  void set_broker_down(int32_t broker);
  void set_broker_up(int32_t broker);  // and turns Nagle's algorithm off on it again
  void set_broker_rtt(int32_t broker, std::chrono::milliseconds rtt);
  void set_partition_leader(std::string_view topic, int32_t partition, int32_t broker);
  // The next `count` requests of `api_key` (kafka_api::produce, kafka_api::fetch, ...) to
  // any broker fail with `error`.
  void push_request_errors(int16_t api_key, size_t count, rd_kafka_resp_err_t error);
  void clear_request_errors(int16_t api_key);

  // The brokers' ports (from bootstrap_servers()).
  std::vector<uint16_t> broker_ports() const;

 private:
  // Sets TCP_NODELAY on the brokers' listening sockets, from which Linux's accepted sockets
  // inherit it. librdkafka gives no hook for the mock's sockets, so they are found among this
  // process's descriptors by their local port. Returns how many listeners it set.
  int disable_nagle_on_broker_listeners() const noexcept;

  const int brokers_;
  rd_kafka_t* owner_ = nullptr;  // a producer handle that exists only to own the mock
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstrap_servers_;
};

}  // namespace counsel::log
