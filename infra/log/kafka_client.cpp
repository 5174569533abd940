#include "infra/log/kafka_client.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

#include "infra/logging.hpp"
#include "infra/random_ids.hpp"

namespace counsel::log::kafka {
namespace {

constexpr std::string_view log_component = "kafka";

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

ClientContext& context_of(const rd_kafka_t* rk) {
  return *static_cast<ClientContext*>(rd_kafka_opaque(rk));
}

// librdkafka logs with syslog levels; only warnings and worse reach our log (the rest is
// reconnect chatter that the error callback summarizes anyway).
void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* line) {
  if (level > 4) return;
  log_limited(context_of(rk), level <= 3, std::string(facility) + ": " + line);
}

void on_error(rd_kafka_t*, int error, const char* reason, void* opaque) {
  auto& context = *static_cast<ClientContext*>(opaque);
  const auto code = static_cast<rd_kafka_resp_err_t>(error);
  log_limited(context, code == RD_KAFKA_RESP_ERR__FATAL,
              std::string(rd_kafka_err2name(code)) + ": " + reason);
}

void set_or_throw(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  std::array<char, 512> reason{};
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), reason.data(), reason.size()) ==
      RD_KAFKA_CONF_OK) {
    return;
  }
  // librdkafka's reason may quote the value: leave it out for secrets.
  throw std::runtime_error(
      "invalid Kafka setting " + name + ": " +
      (is_secret_setting(name) ? std::string("(value hidden)") : std::string(reason.data())));
}

}  // namespace

bool is_secret_setting(std::string_view name) {
  const std::string lowered = lowercase(name);
  for (std::string_view marker :
       {"password", "secret", "ssl.key", "keystore", "jaas", "oauthbearer.config", "token"}) {
    if (lowered.find(marker) != std::string::npos) return true;
  }
  return false;
}

long LogLimiter::admit() {
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (now - window_start_ >= window_) {
    window_start_ = now;
    in_window_ = 0;
  }
  if (in_window_ >= burst_) {
    ++suppressed_;
    return -1;
  }
  ++in_window_;
  return std::exchange(suppressed_, 0);
}

void log_limited(ClientContext& context, bool is_error, const std::string& message) {
  const long suppressed = context.limiter.admit();
  if (suppressed < 0) return;
  std::string line = context.name + ": " + message;
  if (suppressed > 0) line += " (" + std::to_string(suppressed) + " similar lines suppressed)";
  if (is_error) {
    logging::error(log_component, line);
  } else {
    logging::warn(log_component, line);
  }
}

ClientSpec EngineConfig::spec(rd_kafka_type_t type, std::string name) const {
  ClientSpec spec;
  spec.type = type;
  spec.name = std::move(name);
  spec.tunable = common_tunable;
  spec.required = common_required;
  return spec;
}

Client::Client(const ClientSpec& spec, const Settings& extra)
    : context_(std::make_unique<ClientContext>()) {
  context_->name = spec.name;
  context_->owner = spec.owner;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  try {
    for (const auto& [name, value] : spec.tunable) set_or_throw(conf, name, value);
    for (const auto& [name, value] : extra) set_or_throw(conf, name, value);
    for (const auto& [name, value] : spec.required) set_or_throw(conf, name, value);
  } catch (...) {
    rd_kafka_conf_destroy(conf);
    throw;
  }
  rd_kafka_conf_set_opaque(conf, context_.get());
  rd_kafka_conf_set_log_cb(conf, on_log);
  rd_kafka_conf_set_error_cb(conf, on_error);
  if (spec.customize) spec.customize(conf);
  std::array<char, 512> reason{};
  handle_ = rd_kafka_new(spec.type, conf, reason.data(), reason.size());
  if (handle_ == nullptr) {
    rd_kafka_conf_destroy(conf);  // still ours when rd_kafka_new fails
    throw std::runtime_error("cannot create the Kafka " + spec.name + ": " + reason.data());
  }
}

Client::~Client() {
  if (handle_ != nullptr) rd_kafka_destroy(handle_);
}

KnownTopics::KnownTopics(rd_kafka_t* producer, std::chrono::milliseconds timeout) {
  for (Topic topic : {Topic::commands, Topic::events, Topic::results}) {
    const std::string name(topic_name(topic));
    if (auto* handle = rd_kafka_topic_new(producer, name.c_str(), nullptr)) {
      topics_.push_back(handle);
    }
  }
  // One request for every locally known topic, i.e. these; a failure only costs latency later.
  const rd_kafka_metadata_t* metadata = nullptr;
  if (rd_kafka_metadata(producer, 0, nullptr, &metadata, static_cast<int>(timeout.count())) ==
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_metadata_destroy(metadata);
  }
}

KnownTopics::~KnownTopics() {
  for (auto* handle : topics_) rd_kafka_topic_destroy(handle);
}

PartitionList new_partition_list(int size_hint) {
  return PartitionList(rd_kafka_topic_partition_list_new(std::max(size_hint, 1)));
}

namespace {

// What librdkafka carries as a message's opaque until its delivery report.
struct DeliverySlot {
  std::shared_ptr<DeliveryBatch> batch;
  size_t index;
};

}  // namespace

void DeliveryBatch::report(size_t index, const rd_kafka_message_t& message) {
  {
    std::lock_guard lock(mutex_);
    if (message.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (first_error_ == RD_KAFKA_RESP_ERR_NO_ERROR) first_error_ = message.err;
    } else {
      positions_.at(index) = Position{PartitionId{message.partition}, Offset{message.offset}};
    }
    --outstanding_;
  }
  reported_.notify_all();
}

void DeliveryBatch::abandon(size_t count, rd_kafka_resp_err_t error) {
  {
    std::lock_guard lock(mutex_);
    if (first_error_ == RD_KAFKA_RESP_ERR_NO_ERROR) first_error_ = error;
    outstanding_ -= std::min(count, outstanding_);
  }
  reported_.notify_all();
}

bool DeliveryBatch::wait_until(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return reported_.wait_until(lock, deadline, [&] { return outstanding_ == 0; });
}

bool DeliveryBatch::poll_until(rd_kafka_t* producer,
                               std::chrono::steady_clock::time_point deadline) {
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (outstanding_ == 0) return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    rd_kafka_poll(producer, 10);
  }
}

bool DeliveryBatch::failed() const {
  std::lock_guard lock(mutex_);
  return first_error_ != RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_resp_err_t DeliveryBatch::first_error() const {
  std::lock_guard lock(mutex_);
  return first_error_;
}

std::vector<Position> DeliveryBatch::positions() const {
  std::lock_guard lock(mutex_);
  return positions_;
}

void on_delivery_report(rd_kafka_t*, const rd_kafka_message_t* message, void*) {
  std::unique_ptr<DeliverySlot> slot(static_cast<DeliverySlot*>(message->_private));
  if (slot) slot->batch->report(slot->index, *message);
}

rd_kafka_resp_err_t produce(rd_kafka_t* producer, std::string_view topic, int32_t partition,
                            const std::string& key, const std::string& value,
                            const std::shared_ptr<DeliveryBatch>& batch, size_t index) {
  const std::string topic_name(topic);
  auto slot = std::make_unique<DeliverySlot>(DeliverySlot{batch, index});
  std::array<rd_kafka_vu_t, 6> fields{};
  fields[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  fields[0].u.cstr = topic_name.c_str();
  fields[1].vtype = RD_KAFKA_VTYPE_PARTITION;
  fields[1].u.i32 = partition;
  fields[2].vtype = RD_KAFKA_VTYPE_KEY;
  fields[2].u.mem.ptr = const_cast<char*>(key.data());
  fields[2].u.mem.size = key.size();
  fields[3].vtype = RD_KAFKA_VTYPE_VALUE;
  fields[3].u.mem.ptr = const_cast<char*>(value.data());
  fields[3].u.mem.size = value.size();
  fields[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  fields[4].u.i = RD_KAFKA_MSG_F_COPY;
  fields[5].vtype = RD_KAFKA_VTYPE_OPAQUE;
  fields[5].u.ptr = slot.get();
  ErrorHandle error(rd_kafka_produceva(producer, fields.data(), fields.size()));
  if (error) return rd_kafka_error_code(error.get());
  slot.release();  // the delivery report frees it
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

void purge_outstanding(rd_kafka_t* producer) {
  rd_kafka_purge(
      producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING);
  // Purged messages report ERR__PURGE_* through the delivery callback, served here.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (rd_kafka_outq_len(producer) > 0 && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_poll(producer, 10);
  }
  rd_kafka_poll(producer, 0);
}

bool is_permanent_delivery_error(rd_kafka_resp_err_t error) {
  switch (error) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return true;
    default:
      return false;
  }
}

Record to_record(Topic topic, const rd_kafka_message_t& message) {
  Record record;
  record.topic = topic;
  record.partition = PartitionId{message.partition};
  record.offset = Offset{message.offset};
  if (message.key != nullptr)
    record.key.assign(static_cast<const char*>(message.key), message.key_len);
  if (message.payload != nullptr) {
    record.value.assign(static_cast<const char*>(message.payload), message.len);
  }
  rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  const int64_t timestamp_ms = rd_kafka_message_timestamp(&message, &type);
  record.appended_at =
      timestamp_ms >= 0 ? Timestamp{std::chrono::milliseconds{timestamp_ms}} : now_utc();
  return record;
}

std::optional<LogError> consumer_error(Client& consumer, const rd_kafka_message_t& message) {
  std::string detail = rd_kafka_err2name(message.err);
  detail += ": ";
  detail += rd_kafka_message_errstr(&message);
  if (message.rkt != nullptr) {
    detail += " (" + std::string(rd_kafka_topic_name(message.rkt)) + " [" +
              std::to_string(message.partition) + "])";
  }
  const bool fatal = message.err == RD_KAFKA_RESP_ERR__FATAL;
  log_limited(consumer.context(), fatal, detail);
  if (fatal) {
    std::array<char, 512> reason{};
    rd_kafka_fatal_error(consumer.get(), reason.data(), reason.size());
    return unreachable(std::string("the consumer failed: ") + reason.data());
  }
  if (message.err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) return unreachable(detail);
  return std::nullopt;
}

LogError unreachable(const std::string& detail) {
  return LogError{"the Kafka log is unreachable: " + detail, true, false};
}

LogError permanent(const std::string& detail) {
  return LogError{"Kafka log: " + detail, false, false};
}

}  // namespace counsel::log::kafka
