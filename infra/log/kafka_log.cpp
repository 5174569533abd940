#include "infra/log/kafka_log.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>

#include "infra/log/kafka_client.hpp"
#include "infra/log/kafka_group_consumer.hpp"
#include "infra/logging.hpp"
#include "infra/thread_name.hpp"

namespace counsel::log {
namespace kafka {

using Clock = std::chrono::steady_clock;

// The producer behind append(): idempotent, acks=all, shared by every caller of one log. A
// poller thread serves delivery reports, each of which completes its own caller's batch.
class AppendProducer {
 public:
  explicit AppendProducer(const EngineConfig& config)
      : delivery_timeout_(config.delivery_timeout),
        client_(spec(config), config.extra),
        known_topics_(client_.get(), config.request_timeout) {
    poller_ = std::thread([this] {
      name_this_thread("kafka-delivery");
      while (!stopping_) rd_kafka_poll(client_.get(), 50);
    });
  }

  ~AppendProducer() {
    rd_kafka_flush(client_.get(), 1000);
    stopping_ = true;
    poller_.join();
    purge_outstanding(client_.get());
  }

  AppendProducer(const AppendProducer&) = delete;
  AppendProducer& operator=(const AppendProducer&) = delete;

  // Not atomic across records: if a later record fails, earlier ones of the same call may
  // still land. Callers retry with the same command ids, and the processor deduplicates.
  Result<std::vector<Position>> append(const std::vector<OutRecord>& records,
                                       const std::vector<PartitionId>& partitions) {
    auto batch = std::make_shared<DeliveryBatch>(records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      const auto queued =
          produce(client_.get(), topic_name(records[i].topic), partitions[i].value(),
                  records[i].key, records[i].value, batch, i);
      if (queued != RD_KAFKA_RESP_ERR_NO_ERROR) {
        batch->abandon(records.size() - i, queued);
        return unexpected(delivery_failure(queued, "cannot queue the record"));
      }
    }
    // librdkafka reports every message within message.timeout.ms; the margin covers the
    // poller's scheduling.
    const auto deadline = Clock::now() + delivery_timeout_ + std::chrono::seconds(2);
    if (!batch->wait_until(deadline)) {
      return unexpected(unreachable("no acknowledgement within " +
                                    std::to_string(delivery_timeout_.count()) + " ms"));
    }
    if (batch->failed()) {
      return unexpected(delivery_failure(batch->first_error(), "the append failed"));
    }
    return batch->positions();
  }

  bool broken() const { return broken_; }

 private:
  static ClientSpec spec(const EngineConfig& config) {
    auto spec = config.spec(RD_KAFKA_PRODUCER, "producer");
    spec.tunable.insert(
        spec.tunable.end(),
        {{"linger.ms", "1"}, {"compression.type", "none"}, {"partitioner", "murmur2_random"}});
    spec.required.insert(spec.required.end(),
                         {{"enable.idempotence", "true"},
                          {"acks", "all"},
                          {"message.timeout.ms", std::to_string(config.delivery_timeout.count())}});
    spec.customize = [](rd_kafka_conf_t* conf) {
      rd_kafka_conf_set_dr_msg_cb(conf, on_delivery_report);
    };
    return spec;
  }

  LogError delivery_failure(rd_kafka_resp_err_t error, const std::string& what) {
    if (error == RD_KAFKA_RESP_ERR__FATAL) {
      // An idempotent producer that hit a fatal error refuses everything from now on.
      broken_ = true;
      std::array<char, 512> reason{};
      rd_kafka_fatal_error(client_.get(), reason.data(), reason.size());
      return unreachable(what + ": the producer failed (" + reason.data() +
                         "); a new one takes over");
    }
    const std::string detail = what + ": " + rd_kafka_err2str(error);
    return is_permanent_delivery_error(error) ? permanent(detail) : unreachable(detail);
  }

  const std::chrono::milliseconds delivery_timeout_;
  Client client_;
  KnownTopics known_topics_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> broken_{false};
  std::thread poller_;
};

namespace {

// Errors after which asking again (with refreshed metadata) can succeed.
bool is_stale_leader_error(rd_kafka_resp_err_t error) {
  switch (error) {
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return true;
    default:
      return false;
  }
}

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* metadata) const {
    rd_kafka_metadata_destroy(metadata);
  }
};
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

// All topics, or (all_topics false) the topics this client knows: our three, or none.
Metadata fetch_metadata(rd_kafka_t* client, bool all_topics, std::chrono::milliseconds timeout,
                        rd_kafka_resp_err_t& error) {
  const rd_kafka_metadata_t* metadata = nullptr;
  error = rd_kafka_metadata(client, all_topics ? 1 : 0, nullptr, &metadata,
                            static_cast<int>(timeout.count()));
  return Metadata(error == RD_KAFKA_RESP_ERR_NO_ERROR ? metadata : nullptr);
}

const rd_kafka_metadata_topic_t* find_topic(const rd_kafka_metadata_t& metadata,
                                            std::string_view name) {
  for (int i = 0; i < metadata.topic_cnt; ++i) {
    const auto& topic = metadata.topics[i];
    if (name == topic.topic && topic.err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      return &topic;
    }
  }
  return nullptr;
}

// Retention per topic: events are the system of record and the audit stream (forever);
// commands are replayed only by a processor catching up (a week); results only matter
// while an api process waits for them (an hour).
std::string retention_ms(Topic topic) {
  switch (topic) {
    case Topic::events:
      return "-1";
    case Topic::commands:
      return "604800000";
    case Topic::results:
      return "3600000";
  }
  return "-1";
}

struct NewTopicsDeleter {
  void operator()(std::vector<rd_kafka_NewTopic_t*>* topics) const {
    rd_kafka_NewTopic_destroy_array(topics->data(), topics->size());
    delete topics;
  }
};

void create_topics(rd_kafka_t* admin, const std::vector<Topic>& topics, int partitions,
                   int replication_factor, std::chrono::milliseconds timeout) {
  std::unique_ptr<std::vector<rd_kafka_NewTopic_t*>, NewTopicsDeleter> requests(
      new std::vector<rd_kafka_NewTopic_t*>());
  std::array<char, 512> reason{};
  for (Topic topic : topics) {
    const std::string name(topic_name(topic));
    auto* request = rd_kafka_NewTopic_new(name.c_str(), partitions, replication_factor,
                                          reason.data(), reason.size());
    if (request == nullptr) {
      throw std::runtime_error("cannot create Kafka topic " + name + ": " + reason.data());
    }
    requests->push_back(request);
    rd_kafka_NewTopic_set_config(request, "retention.ms", retention_ms(topic).c_str());
  }
  std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> queue(
      rd_kafka_queue_new(admin), rd_kafka_queue_destroy);
  std::unique_ptr<rd_kafka_AdminOptions_t, decltype(&rd_kafka_AdminOptions_destroy)> options(
      rd_kafka_AdminOptions_new(admin, RD_KAFKA_ADMIN_OP_CREATETOPICS),
      rd_kafka_AdminOptions_destroy);
  rd_kafka_AdminOptions_set_operation_timeout(options.get(), static_cast<int>(timeout.count()),
                                              reason.data(), reason.size());
  rd_kafka_CreateTopics(admin, requests->data(), requests->size(), options.get(), queue.get());
  std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)> event(
      rd_kafka_queue_poll(queue.get(), static_cast<int>(timeout.count()) + 5000),
      rd_kafka_event_destroy);
  if (!event) throw std::runtime_error("creating the Kafka topics timed out");
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error(std::string("cannot create the Kafka topics: ") +
                             rd_kafka_event_error_string(event.get()));
  }
  size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event.get()), &count);
  for (size_t i = 0; i < count; ++i) {
    const auto error = rd_kafka_topic_result_error(results[i]);
    // Another process may have created it meanwhile: its partition count is checked next.
    if (error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      continue;
    }
    const char* message = rd_kafka_topic_result_error_string(results[i]);
    throw std::runtime_error("cannot create Kafka topic " +
                             std::string(rd_kafka_topic_result_name(results[i])) + ": " +
                             (message != nullptr ? message : rd_kafka_err2str(error)));
  }
}

std::string unique_reader_group(const std::string& member) {
  static std::atomic<uint64_t> counter{0};
  return "counsel-reader-" + member + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter++);
}

// Reads assigned partitions through a consumer that never joins its (unique) group: positions
// are the caller's, nothing is committed.
class KafkaLogReader : public LogReader {
 public:
  explicit KafkaLogReader(const EngineConfig& config) : client_(spec(config), config.extra) {
    rd_kafka_poll_set_consumer(client_.get());
  }

  ~KafkaLogReader() override { rd_kafka_consumer_close(client_.get()); }

  void assign(Topic topic, const std::vector<Position>& from) override {
    topic_ = topic;
    next_.clear();
    at_end_.clear();
    caught_up_ = false;
    assign_error_.reset();
    auto list = new_partition_list(static_cast<int>(from.size()));
    const std::string name(topic_name(topic));
    for (const auto& position : from) {
      rd_kafka_topic_partition_list_add(list.get(), name.c_str(), position.partition.value())
          ->offset = position.offset.value();
      next_[position.partition.value()] = position.offset.value();
    }
    const auto error = rd_kafka_assign(client_.get(), from.empty() ? nullptr : list.get());
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      assign_error_ = unreachable(std::string("cannot assign partitions of ") + name + ": " +
                                  rd_kafka_err2str(error));
    }
  }

  // Returns early with an empty batch once when every assigned partition has reached its end
  // (so "replay until caught up" loops end without waiting out `wait`); afterwards waits for
  // new records as usual.
  Result<std::vector<Record>> poll(size_t max_records, std::chrono::milliseconds wait) override {
    if (assign_error_) return unexpected(*assign_error_);
    const auto deadline = Clock::now() + wait;
    std::vector<Record> records;
    if (next_.empty()) {
      std::this_thread::sleep_until(deadline);
      return records;
    }
    max_records = std::max<size_t>(max_records, 1);
    while (records.size() < max_records) {
      if (records.empty() && caught_up_) {
        caught_up_ = false;
        return records;
      }
      const auto remaining =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      const int timeout_ms =
          records.empty() ? static_cast<int>(std::max<int64_t>(remaining.count(), 0)) : 0;
      MessageHandle message(rd_kafka_consumer_poll(client_.get(), timeout_ms));
      if (!message) {
        if (!records.empty() || Clock::now() >= deadline) break;
        continue;
      }
      const int32_t partition = message->partition;
      if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (next_.contains(partition)) {
          at_end_.insert(partition);
          if (at_end_.size() == next_.size()) caught_up_ = true;
        }
        continue;
      }
      if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        auto error = consumer_error(client_, *message);
        if (error && records.empty()) return unexpected(*error);
        continue;
      }
      auto next = next_.find(partition);
      if (next == next_.end() || message->offset < next->second) continue;
      next->second = message->offset + 1;
      at_end_.erase(partition);
      caught_up_ = false;
      records.push_back(to_record(topic_, *message));
    }
    return records;
  }

  bool at_end(PartitionId partition) const override { return at_end_.contains(partition.value()); }

 private:
  static ClientSpec spec(const EngineConfig& config) {
    auto spec = config.spec(RD_KAFKA_CONSUMER, "reader");
    spec.tunable.insert(spec.tunable.end(), {{"fetch.wait.max.ms", config.fetch_wait_ms()}});
    spec.required.insert(spec.required.end(),
                         {{"group.id", unique_reader_group(config.member)},
                          {"enable.auto.commit", "false"},
                          {"enable.auto.offset.store", "false"},
                          {"isolation.level", "read_committed"},
                          {"enable.partition.eof", "true"},
                          // Only below the log start (retention); never skip forward.
                          {"auto.offset.reset", "earliest"}});
    return spec;
  }

  Client client_;
  Topic topic_ = Topic::events;
  std::map<int32_t, int64_t> next_;  // next offset to return per assigned partition
  std::set<int32_t> at_end_;
  bool caught_up_ = false;
  std::optional<LogError> assign_error_;
};

}  // namespace
}  // namespace kafka

KafkaLog::KafkaLog(KafkaLogOptions options)
    : options_(std::move(options)), config_(std::make_unique<kafka::EngineConfig>()) {
  if (options_.partitions <= 0) {
    throw std::invalid_argument("the log needs at least one partition");
  }
  if (options_.brokers.empty()) {
    throw std::invalid_argument("the Kafka log needs bootstrap servers (COUNSEL_KAFKA_BROKERS)");
  }
  const std::string member = options_.member.empty() ? "counsel" : options_.member;
  config_->partitions = options_.partitions;
  config_->member = member;
  config_->mock = options_.mock;
  config_->delivery_timeout = options_.delivery_timeout;
  config_->before_transaction_commit = options_.before_transaction_commit;
  config_->request_timeout = options_.request_timeout;
  config_->extra = options_.extra_config;
  config_->common_tunable = {{"bootstrap.servers", options_.brokers},
                             {"client.id", "counsel-" + member}};
  if (options_.mock) {
    // Brokers taken down in tests come back within a second; do not back off for ten.
    config_->common_tunable.emplace_back("reconnect.backoff.max.ms", "1000");
  }
  // A typo in a topic name must not create a topic with the broker's default partition count.
  // (The mock speaks too old a Metadata version for this and warns on every request.)
  if (!options_.mock) config_->common_required = {{"allow.auto.create.topics", "false"}};

  admin_ =
      std::make_unique<kafka::Client>(config_->spec(RD_KAFKA_PRODUCER, "admin"), config_->extra);
  ensure_topics();
  admin_topics_ = std::make_unique<kafka::KnownTopics>(admin_->get(), options_.request_timeout);
  producer_ = std::make_shared<kafka::AppendProducer>(*config_);
  transactional_ids_ = std::make_shared<kafka::TransactionalIds>(member);
}

KafkaLog::~KafkaLog() {
  producer_.reset();
  admin_topics_.reset();  // before the handle they belong to
  admin_.reset();
}

void KafkaLog::ensure_topics() {
  const auto timeout = std::max(options_.request_timeout, std::chrono::milliseconds(10000));
  const auto deadline = kafka::Clock::now() + 2 * timeout;
  bool created = false;
  while (true) {
    rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
    auto metadata = kafka::fetch_metadata(admin_->get(), true, timeout, error);
    if (!metadata) {
      throw std::runtime_error("cannot reach the Kafka cluster at " + options_.brokers + ": " +
                               rd_kafka_err2str(error));
    }
    std::vector<Topic> missing;
    std::string unavailable;  // a topic that exists but has no usable metadata yet
    for (Topic topic : {Topic::commands, Topic::events, Topic::results}) {
      const auto* found = kafka::find_topic(*metadata, topic_name(topic));
      if (found == nullptr) {
        missing.push_back(topic);
      } else if (found->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        unavailable = std::string(topic_name(topic)) + ": " + rd_kafka_err2str(found->err);
      } else if (found->partition_cnt != options_.partitions) {
        throw std::runtime_error("topic " + std::string(topic_name(topic)) + " has " +
                                 std::to_string(found->partition_cnt) +
                                 " partitions but --partitions is " +
                                 std::to_string(options_.partitions) +
                                 "; a key's partition depends on the count, so it cannot differ");
      }
    }
    if (missing.empty() && unavailable.empty()) return;
    if ((created || missing.empty()) && kafka::Clock::now() < deadline) {
      // Just created, or a leader election in progress: metadata catches up within moments.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    if (!unavailable.empty()) throw std::runtime_error("Kafka topic " + unavailable);
    if (created) throw std::runtime_error("the Kafka topics were created but do not show up");
    if (options_.mock) {
      // The mock does not implement CreateTopics (the request would hang until it times out).
      throw std::runtime_error("topic " + std::string(topic_name(missing.front())) +
                               " is missing on the mock cluster; create the topics with "
                               "KafkaMockCluster::create_topics first");
    }
    const int replication_factor = std::min(3, metadata->broker_cnt);
    std::string names;
    for (Topic topic : missing)
      names += (names.empty() ? "" : ", ") + std::string(topic_name(topic));
    logging::info("kafka", "creating topics " + names + " with " +
                               std::to_string(options_.partitions) + " partitions, replication " +
                               std::to_string(replication_factor));
    kafka::create_topics(admin_->get(), missing, options_.partitions, replication_factor, timeout);
    created = true;
  }
}

std::shared_ptr<kafka::AppendProducer> KafkaLog::append_producer() {
  std::lock_guard lock(producer_mutex_);
  return producer_;
}

void KafkaLog::replace_broken_producer(const std::shared_ptr<kafka::AppendProducer>& broken) {
  std::lock_guard lock(producer_mutex_);
  if (producer_ != broken) return;  // another caller replaced it already
  try {
    producer_ = std::make_shared<kafka::AppendProducer>(*config_);
  } catch (const std::exception& e) {
    logging::error("kafka", std::string("cannot replace the failed producer: ") + e.what());
  }
}

Result<std::vector<Position>> KafkaLog::append(const std::vector<OutRecord>& records) {
  if (records.empty()) return std::vector<Position>{};
  std::vector<PartitionId> partitions;
  partitions.reserve(records.size());
  for (const auto& record : records) {
    const PartitionId partition =
        record.partition ? *record.partition : log::partition_for(record.key, options_.partitions);
    if (partition.value() < 0 || partition.value() >= options_.partitions) {
      return unexpected(kafka::permanent("partition " + std::to_string(partition.value()) +
                                         " is outside 0.." +
                                         std::to_string(options_.partitions - 1)));
    }
    partitions.push_back(partition);
  }
  auto producer = append_producer();
  auto appended = producer->append(records, partitions);
  if (producer->broken()) replace_broken_producer(producer);
  return appended;
}

Result<Offset> KafkaLog::end_offset(Topic topic, PartitionId partition) {
  if (partition.value() < 0 || partition.value() >= options_.partitions) {
    return unexpected(
        kafka::permanent("partition " + std::to_string(partition.value()) + " does not exist"));
  }
  // ListOffsets for the latest offset, through offsets_for_times: unlike
  // rd_kafka_query_watermark_offsets (which in librdkafka 2.0.2 keeps retrying while the
  // leader is unreachable, past any timeout) it gives up on time. Under read_committed (the
  // client default) a real broker answers with the last stable offset: the end a reader of
  // committed records can reach.
  const std::string name(topic_name(topic));
  const auto deadline = kafka::Clock::now() + options_.request_timeout;
  while (true) {
    auto query = kafka::new_partition_list(1);
    rd_kafka_topic_partition_list_add(query.get(), name.c_str(), partition.value())->offset =
        RD_KAFKA_OFFSET_END;
    const auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - kafka::Clock::now());
    auto error = rd_kafka_offsets_for_times(
        admin_->get(), query.get(), static_cast<int>(std::max<int64_t>(remaining.count(), 1)));
    if (error == RD_KAFKA_RESP_ERR_NO_ERROR) error = query->elems[0].err;
    if (error == RD_KAFKA_RESP_ERR_NO_ERROR && query->elems[0].offset >= 0) {
      return Offset{query->elems[0].offset};
    }
    if (error == RD_KAFKA_RESP_ERR_NO_ERROR) error = RD_KAFKA_RESP_ERR__BAD_MSG;
    if (!kafka::is_stale_leader_error(error) || kafka::Clock::now() >= deadline) {
      return unexpected(kafka::unreachable("cannot read the end of " + name + " [" +
                                           std::to_string(partition.value()) +
                                           "]: " + rd_kafka_err2str(error)));
    }
    // The leader moved: refresh the metadata of the known topics, then ask the new leader.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    rd_kafka_resp_err_t refresh_error = RD_KAFKA_RESP_ERR_NO_ERROR;
    (void)kafka::fetch_metadata(admin_->get(), false, std::chrono::milliseconds(500),
                                refresh_error);
  }
}

std::unique_ptr<LogReader> KafkaLog::reader() {
  return std::make_unique<kafka::KafkaLogReader>(*config_);
}

std::unique_ptr<GroupConsumer> KafkaLog::join_group(Topic topic, const std::string& group,
                                                    RebalanceListener& listener) {
  return kafka::make_group_consumer(*config_, transactional_ids_, topic, group, listener);
}

Result<bool> KafkaLog::ping() {
  rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
  auto metadata = kafka::fetch_metadata(admin_->get(), false, options_.request_timeout, error);
  if (!metadata) return unexpected(kafka::unreachable(rd_kafka_err2str(error)));
  return true;
}

std::unique_ptr<KafkaLog> make_kafka_log(KafkaLogOptions options) {
  return std::make_unique<KafkaLog>(std::move(options));
}

}  // namespace counsel::log
