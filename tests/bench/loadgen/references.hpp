#pragma once
// The physical references the benchmark figures are read against: what the machine does with
// the same bytes when counsel is not in the way.
#include <string>
#include <utility>
#include <vector>

namespace counsel::bench {

struct ReferenceResult {
  long long items = 0;  // rows or messages
  double seconds = 0;
  long long bytes = 0;
  long long errors = 0;
  std::string detail;
};

// COPY (pqxx::stream_to) of `rows` rows shaped like log.records (topic, partition, offset, key,
// value; the payloads cycled from `payloads`) into a scratch copy of that table (same columns,
// defaults and primary key), in one transaction; the scratch table is dropped afterwards.
ReferenceResult copy_reference(const std::string& conninfo,
                               const std::vector<std::string>& payloads, long long rows);

// COPY ... TO STDOUT of every event's value in log.records (the postgres engine's events).
ReferenceResult pg_read_reference(const std::string& conninfo);

using KafkaSettings = std::vector<std::pair<std::string, std::string>>;

// librdkafka produce of `messages` messages (payloads cycled, keyed by their "stream") to
// `topic`, configured as counsel's producer is (idempotent, acks=all, linger.ms=1, murmur2),
// until every delivery report arrived.
ReferenceResult kafka_produce_reference(const std::string& brokers, const std::string& topic,
                                        const std::vector<std::string>& payloads,
                                        long long messages, const KafkaSettings& extra);

// librdkafka consume of every partition of `topic` from its start to its end (assign, no group).
ReferenceResult kafka_read_reference(const std::string& brokers, const std::string& topic,
                                     const KafkaSettings& extra);

}  // namespace counsel::bench
