#include "references.hpp"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <stdexcept>
#include <tuple>

#include "bench_inputs.hpp"

namespace counsel::bench {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

constexpr const char* kScratchTable = "bench_reference_records";

}  // namespace

ReferenceResult copy_reference(const std::string& conninfo,
                               const std::vector<std::string>& payloads, long long rows) {
  if (payloads.empty()) throw std::invalid_argument("copy reference: no payloads");
  pqxx::connection conn(conninfo);
  {
    pqxx::work tx(conn);
    tx.exec0(std::string("DROP TABLE IF EXISTS public.") + kScratchTable);
    tx.exec0(std::string("CREATE TABLE public.") + kScratchTable +
             " (LIKE log.records INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)");
    tx.commit();
  }
  ReferenceResult result;
  const auto started = Clock::now();
  {
    pqxx::work tx(conn);
    pqxx::stream_to copy(
        tx, kScratchTable,
        std::vector<std::string>{"topic", "partition", "\"offset\"", "key", "value"});
    constexpr int kPartitions = 16;
    for (long long i = 0; i < rows; ++i) {
      const std::string& value = payloads[static_cast<size_t>(i) % payloads.size()];
      std::string key = json_string_member(value, "stream");
      result.bytes += static_cast<long long>(value.size() + key.size());
      copy << std::make_tuple(2, static_cast<int>(i % kPartitions), i / kPartitions, std::move(key),
                              value);
    }
    copy.complete();
    tx.commit();
  }
  result.seconds = since(started);
  result.items = rows;
  {
    pqxx::work tx(conn);
    tx.exec0(std::string("DROP TABLE IF EXISTS public.") + kScratchTable);
    tx.commit();
  }
  return result;
}

ReferenceResult pg_read_reference(const std::string& conninfo) {
  pqxx::connection conn(conninfo);
  pqxx::work tx(conn);
  ReferenceResult result;
  const auto started = Clock::now();
  // pqxx 6.4's stream_from takes a "table" that it puts after COPY unquoted: a query works.
  pqxx::stream_from copy(tx, "(SELECT key, value FROM log.records WHERE topic = 2)");
  std::string line;
  while (copy.get_raw_line(line)) {
    ++result.items;
    result.bytes += static_cast<long long>(line.size());
  }
  copy.complete();
  result.seconds = since(started);
  return result;
}

namespace {

struct KafkaHandle {
  rd_kafka_t* rk = nullptr;
  ~KafkaHandle() {
    if (rk) rd_kafka_destroy(rk);
  }
};

rd_kafka_conf_t* make_conf(const std::string& brokers, const KafkaSettings& settings) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char reason[512];
  auto set = [&](const std::string& name, const std::string& value) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), reason, sizeof reason) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("librdkafka setting " + name + "=" + value + ": " + reason);
    }
  };
  set("bootstrap.servers", brokers);
  for (auto& [name, value] : settings) set(name, value);
  return conf;
}

struct DeliveryCounts {
  long long delivered = 0;
  long long failed = 0;
  std::string first_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* counts = static_cast<DeliveryCounts*>(opaque);
  if (message->err) {
    if (counts->failed++ == 0) counts->first_error = rd_kafka_err2str(message->err);
  } else {
    ++counts->delivered;
  }
}

}  // namespace

ReferenceResult kafka_produce_reference(const std::string& brokers, const std::string& topic,
                                        const std::vector<std::string>& payloads,
                                        long long messages, const KafkaSettings& extra) {
  if (payloads.empty()) throw std::invalid_argument("produce reference: no payloads");
  KafkaSettings settings{{"enable.idempotence", "true"},
                         {"acks", "all"},
                         {"linger.ms", "1"},
                         {"compression.type", "none"},
                         {"partitioner", "murmur2_random"}};
  settings.insert(settings.end(), extra.begin(), extra.end());
  rd_kafka_conf_t* conf = make_conf(brokers, settings);
  DeliveryCounts counts;
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &counts);
  char reason[512];
  KafkaHandle producer;
  producer.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof reason);
  if (!producer.rk) throw std::runtime_error(std::string("librdkafka producer: ") + reason);

  // One message first: the topic is created (the mock creates it on first use) and the
  // producer has its id before the clock starts.
  auto produce = [&](const std::string& value) {
    const std::string key = json_string_member(value, "stream");
    while (true) {
      auto err = rd_kafka_producev(producer.rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                                   RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                                   RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return static_cast<long long>(key.size() + value.size());
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
        throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(err));
      rd_kafka_poll(producer.rk, 5);
    }
  };
  produce(payloads.front());
  if (rd_kafka_flush(producer.rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR || counts.delivered != 1)
    throw std::runtime_error("produce reference: the first message was not delivered (" +
                             counts.first_error + ")");
  counts = {};

  ReferenceResult result;
  const auto started = Clock::now();
  for (long long i = 0; i < messages; ++i) {
    result.bytes += produce(payloads[static_cast<size_t>(i) % payloads.size()]);
    rd_kafka_poll(producer.rk, 0);
  }
  if (rd_kafka_flush(producer.rk, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("produce reference: deliveries did not finish within 120 s");
  result.seconds = since(started);
  result.items = counts.delivered;
  result.errors = counts.failed;
  result.detail = counts.first_error;
  return result;
}

ReferenceResult kafka_read_reference(const std::string& brokers, const std::string& topic,
                                     const KafkaSettings& extra) {
  KafkaSettings settings{{"group.id", "counsel-bench-read-reference"},
                         {"enable.auto.commit", "false"},
                         {"enable.partition.eof", "true"},
                         {"fetch.wait.max.ms", "10"}};
  settings.insert(settings.end(), extra.begin(), extra.end());
  rd_kafka_conf_t* conf = make_conf(brokers, settings);
  char reason[512];
  KafkaHandle consumer;
  consumer.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, reason, sizeof reason);
  if (!consumer.rk) throw std::runtime_error(std::string("librdkafka consumer: ") + reason);
  rd_kafka_poll_set_consumer(consumer.rk);

  std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> handle(
      rd_kafka_topic_new(consumer.rk, topic.c_str(), nullptr), rd_kafka_topic_destroy);
  const rd_kafka_metadata_t* metadata = nullptr;
  auto err = rd_kafka_metadata(consumer.rk, 0, handle.get(), &metadata, 10000);
  if (err) throw std::runtime_error(std::string("metadata: ") + rd_kafka_err2str(err));
  int partitions = 0;
  if (metadata->topic_cnt == 1 && !metadata->topics[0].err)
    partitions = metadata->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(metadata);
  if (partitions == 0) throw std::runtime_error("topic " + topic + " has no partitions");

  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  ReferenceResult result;
  const auto started = Clock::now();
  err = rd_kafka_assign(consumer.rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err) throw std::runtime_error(std::string("assign: ") + rd_kafka_err2str(err));
  std::set<int32_t> at_end;
  auto last_progress = Clock::now();
  while (static_cast<int>(at_end.size()) < partitions) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.rk, 100);
    if (!m) {
      if (since(last_progress) > 30)
        throw std::runtime_error("read reference: no progress for 30 s");
      continue;
    }
    last_progress = Clock::now();
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_end.insert(m->partition);
    } else if (m->err) {
      ++result.errors;
      if (result.detail.empty()) result.detail = rd_kafka_message_errstr(m);
    } else {
      ++result.items;
      result.bytes += static_cast<long long>(m->len + m->key_len);
    }
    rd_kafka_message_destroy(m);
  }
  result.seconds = since(started);
  rd_kafka_consumer_close(consumer.rk);
  return result;
}

}  // namespace counsel::bench
