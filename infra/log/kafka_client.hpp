#pragma once
// Plumbing shared by the Kafka engine's librdkafka clients: building a configuration from the
// engine's choices plus the operator's pass-through settings (SASL, TLS, tuning), owning the
// handle, and routing librdkafka's log and error callbacks to counsel::logging with a rate
// limit. Secret values (passwords, keys) never reach a log line or an error message.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "infra/log/log.hpp"

namespace counsel::log::kafka {

using Settings = std::vector<std::pair<std::string, std::string>>;

// True for settings whose values must never be logged (sasl.password, ssl.key.pem, ...).
bool is_secret_setting(std::string_view name);

// At most a burst of lines per window from one client; the rest are counted and reported with
// the next line that gets through, so a flapping broker cannot flood the log.
class LogLimiter {
 public:
  explicit LogLimiter(int burst = 5, std::chrono::seconds window = std::chrono::seconds(30))
      : burst_(burst), window_(window) {}
  // Returns how many lines were suppressed before this one, or -1 if this one is suppressed.
  long admit();

 private:
  const int burst_;
  const std::chrono::seconds window_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point window_start_{};
  int in_window_ = 0;
  long suppressed_ = 0;
};

// Lives as long as the handle; librdkafka hands it to every callback as the handle's opaque.
struct ClientContext {
  std::string name;  // "producer", "group processor", ...: prefixes its log lines
  LogLimiter limiter;
  void* owner = nullptr;  // the engine object the callbacks of this client work on
};

// How a client is configured, in the order applied: `tunable` (the engine's defaults), then
// the operator's `extra` settings (which may override them), then `required` (what the engine's
// guarantees rest on: idempotence, isolation level, manual commits; never overridden).
struct ClientSpec {
  rd_kafka_type_t type = RD_KAFKA_PRODUCER;
  std::string name;
  Settings tunable;
  Settings required;
  void* owner = nullptr;
  // Installs callbacks (delivery reports, rebalances) on the configuration.
  std::function<void(rd_kafka_conf_t*)> customize;
};

// What every client of one KafkaLog shares.
struct EngineConfig {
  Settings common_tunable;   // bootstrap servers, client id, backoffs
  Settings common_required;  // no topic auto-creation
  Settings extra;            // the operator's pass-through settings
  bool mock = false;
  int partitions = 0;
  std::string member;
  std::chrono::milliseconds delivery_timeout{10000};
  std::chrono::milliseconds request_timeout{3000};
  std::function<void()> before_transaction_commit;  // test hook, see KafkaLogOptions

  // A spec seeded with the common settings.
  ClientSpec spec(rd_kafka_type_t type, std::string name) const;
  // A real broker answers a waiting fetch as soon as data arrives, so a long wait costs no
  // latency there; the mock always waits it out.
  std::string fetch_wait_ms() const { return mock ? "10" : "500"; }
};

// Owns a librdkafka handle and the context its callbacks see.
class Client {
 public:
  Client(const ClientSpec& spec, const Settings& extra);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  rd_kafka_t* get() const { return handle_; }
  const std::string& name() const { return context_->name; }
  ClientContext& context() { return *context_; }

 private:
  std::unique_ptr<ClientContext> context_;  // outlives handle_: destroyed after it
  rd_kafka_t* handle_ = nullptr;
};

// Makes a producer know the engine's three topics and their leaders before its first record.
// Without it the first record for a topic waits for librdkafka's once-a-second topic scan to
// ask for the topic's metadata (up to a second of latency on the first append after start-up).
// Destroy before the producer's handle.
class KnownTopics {
 public:
  KnownTopics(rd_kafka_t* producer, std::chrono::milliseconds timeout);
  ~KnownTopics();
  KnownTopics(const KnownTopics&) = delete;
  KnownTopics& operator=(const KnownTopics&) = delete;

 private:
  std::vector<rd_kafka_topic_t*> topics_;
};

// Owns a topic-partition list.
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
PartitionList new_partition_list(int size_hint);

// Owns an rd_kafka_error_t (transactional API results).
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* error) const { rd_kafka_error_destroy(error); }
};
using ErrorHandle = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;

// Collects the delivery reports of the messages one call produced, so concurrent callers
// sharing a producer each wait for their own messages only.
class DeliveryBatch {
 public:
  explicit DeliveryBatch(size_t count) : outstanding_(count), positions_(count) {}
  // Called from librdkafka's delivery report callback.
  void report(size_t index, const rd_kafka_message_t& message);
  // Messages that never reached librdkafka (produce refused them).
  void abandon(size_t count, rd_kafka_resp_err_t error);
  // Waits for every report; false when the deadline passed first.
  bool wait_until(std::chrono::steady_clock::time_point deadline);
  // The same for a producer nobody else polls: serves its callbacks while waiting.
  bool poll_until(rd_kafka_t* producer, std::chrono::steady_clock::time_point deadline);

  bool failed() const;
  rd_kafka_resp_err_t first_error() const;
  std::vector<Position> positions() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable reported_;
  size_t outstanding_;
  std::vector<Position> positions_;
  rd_kafka_resp_err_t first_error_ = RD_KAFKA_RESP_ERR_NO_ERROR;
};

// Install with rd_kafka_conf_set_dr_msg_cb on every producer that uses produce() below.
void on_delivery_report(rd_kafka_t* producer, const rd_kafka_message_t* message, void* opaque);

// Produces one record to an explicit partition; its delivery report goes to batch[index].
rd_kafka_resp_err_t produce(rd_kafka_t* producer, std::string_view topic, int32_t partition,
                            const std::string& key, const std::string& value,
                            const std::shared_ptr<DeliveryBatch>& batch, size_t index);

// Before destroying a producer: drops what it still holds and serves the delivery reports,
// so no waiting caller hangs and no report slot leaks.
void purge_outstanding(rd_kafka_t* producer);

// Delivery errors that retrying cannot fix (the record is too large, access is denied).
bool is_permanent_delivery_error(rd_kafka_resp_err_t error);

// Owns a consumed message.
struct MessageDeleter {
  void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
};
using MessageHandle = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

// The port's record for a consumed message; appended_at is the message timestamp.
Record to_record(Topic topic, const rd_kafka_message_t& message);

// A consumer's error event: logged (rate-limited). Returned as an error only when the consumer
// can make no progress by itself (fatal error, every broker down); librdkafka retries the rest.
std::optional<LogError> consumer_error(Client& consumer, const rd_kafka_message_t& message);

// A retryable "the log is unreachable" error: what callers turn into 503s and retries.
LogError unreachable(const std::string& detail);
// A permanent error (bad input or configuration).
LogError permanent(const std::string& detail);

// Routes a line to counsel::logging through the client's rate limit.
void log_limited(ClientContext& context, bool is_error, const std::string& message);

}  // namespace counsel::log::kafka
