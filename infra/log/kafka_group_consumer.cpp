#include "infra/log/kafka_group_consumer.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>

#include "infra/logging.hpp"

namespace counsel::log::kafka {

std::string TransactionalIds::acquire(const std::string& group) {
  std::lock_guard lock(mutex_);
  const std::string base = group + "-" + member_;
  std::string id = base;
  for (int n = 2; in_use_.contains(id); ++n) id = base + "-" + std::to_string(n);
  in_use_.insert(id);
  return id;
}

void TransactionalIds::release(const std::string& id) {
  std::lock_guard lock(mutex_);
  in_use_.erase(id);
}

namespace {

using Clock = std::chrono::steady_clock;

struct LeaseState {
  std::atomic<bool> revoked{false};
};

// Errors that mean someone else owns the partition now (a newer generation of the group, or a
// newer producer with our transactional id): stop working on it.
bool is_fencing_error(rd_kafka_resp_err_t code) {
  switch (code) {
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
      return true;
    default:
      return false;
  }
}

// The consumer group generation: every rebalance bumps it, group-wide, so it orders owners of
// a partition the way the postgres engine's epoch does. librdkafka has no getter for it; its
// serialized group metadata (meant for language bindings) starts with a versioned magic and
// the generation in native byte order. Another version of the format yields nullopt and the
// caller falls back to a local counter.
std::optional<int64_t> group_generation(rd_kafka_t* consumer) {
  std::unique_ptr<rd_kafka_consumer_group_metadata_t,
                  decltype(&rd_kafka_consumer_group_metadata_destroy)>
      metadata(rd_kafka_consumer_group_metadata(consumer),
               rd_kafka_consumer_group_metadata_destroy);
  if (!metadata) return std::nullopt;
  void* buffer = nullptr;
  size_t size = 0;
  ErrorHandle error(rd_kafka_consumer_group_metadata_write(metadata.get(), &buffer, &size));
  if (error) return std::nullopt;
  constexpr std::string_view magic = "CGMDv2:";
  std::optional<int64_t> generation;
  if (size >= magic.size() + sizeof(int32_t) &&
      std::memcmp(buffer, magic.data(), magic.size()) == 0) {
    int32_t value = 0;
    std::memcpy(&value, static_cast<const char*>(buffer) + magic.size(), sizeof(value));
    if (value >= 0) generation = value;
  }
  rd_kafka_mem_free(nullptr, buffer);
  return generation;
}

void on_rebalance(rd_kafka_t* consumer, rd_kafka_resp_err_t error,
                  rd_kafka_topic_partition_list_t* partitions, void* opaque);

// What a group member and its leases share: the consumer handle (group metadata, offset
// commits) and the member's transactional producer. Lives until the last lease is gone.
class GroupSession {
 public:
  GroupSession(const EngineConfig& config, std::shared_ptr<TransactionalIds> ids, Topic topic,
               std::string group, void* owner)
      : config_(config),
        ids_(std::move(ids)),
        topic_(topic),
        group_(std::move(group)),
        transactional_id_(ids_->acquire(group_)),
        consumer_(std::make_unique<Client>(consumer_spec(owner), config_.extra)) {
    rd_kafka_poll_set_consumer(consumer_->get());
  }

  ~GroupSession() {
    retire();
    consumer_.reset();
  }

  GroupSession(const GroupSession&) = delete;
  GroupSession& operator=(const GroupSession&) = delete;

  Client& consumer() { return *consumer_; }
  const std::string& group() const { return group_; }
  Topic topic() const { return topic_; }
  std::mutex& commit_mutex() { return commit_mutex_; }

  // Starts the transactional producer now: init_transactions fences a predecessor with our
  // transactional id and aborts its open transaction, which would otherwise hold back
  // read_committed readers until it timed out. Retried at the first commit if it fails.
  void prepare_producer() {
    std::lock_guard lock(commit_mutex_);
    if (auto ready = ensure_producer(); !ready) {
      logging::warn("kafka", "group " + group_ + ": " + ready.error().message);
    }
  }

  // No commits after this: the member left the group. Frees the transactional id.
  void retire() {
    std::lock_guard lock(commit_mutex_);
    if (retired_) return;
    retired_ = true;
    discard_producer();
    ids_->release(transactional_id_);
  }

  // One partition's share of a transaction.
  struct Share {
    const LeaseState* lease;
    PartitionId partition;
    const std::vector<OutRecord>* records;
    Offset consumed;
  };

  Result<std::vector<Position>> commit(const LeaseState& lease, PartitionId partition,
                                       const std::vector<OutRecord>& records, Offset consumed) {
    return commit({Share{&lease, partition, &records, consumed}});
  }

  // Every share's records and consumed position in one transaction, all or nothing. Returns the
  // records' positions in share order.
  Result<std::vector<Position>> commit(const std::vector<Share>& shares) {
    std::lock_guard lock(commit_mutex_);
    if (shares.empty()) return std::vector<Position>{};
    const PartitionId first = shares.front().partition;
    for (const auto& share : shares) {
      if (share.lease->revoked || retired_)
        return unexpected(fenced(share.partition, "was revoked"));
    }
    std::vector<const OutRecord*> records;
    std::vector<PartitionId> targets;
    for (const auto& share : shares) {
      for (const auto& record : *share.records) {
        const PartitionId target = record.partition
                                       ? *record.partition
                                       : log::partition_for(record.key, config_.partitions);
        if (target.value() < 0 || target.value() >= config_.partitions) {
          return unexpected(permanent("partition " + std::to_string(target.value()) +
                                      " is outside 0.." + std::to_string(config_.partitions - 1)));
        }
        records.push_back(&record);
        targets.push_back(target);
      }
    }
    auto offsets = new_partition_list(static_cast<int>(shares.size()));
    const std::string group_topic(topic_name(topic_));
    for (const auto& share : shares) {
      rd_kafka_topic_partition_list_add(offsets.get(), group_topic.c_str(), share.partition.value())
          ->offset = share.consumed.value();
    }
    if (records.empty()) return commit_offsets_only(first, offsets.get());

    if (auto ready = ensure_producer(); !ready) return unexpected(ready.error());
    rd_kafka_t* producer = producer_->get();
    if (ErrorHandle error{rd_kafka_begin_transaction(producer)}) {
      return unexpected(transaction_failed(std::move(error), first, "begin"));
    }
    auto batch = std::make_shared<DeliveryBatch>(records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      const auto queued = produce(producer, topic_name(records[i]->topic), targets[i].value(),
                                  records[i]->key, records[i]->value, batch, i);
      if (queued != RD_KAFKA_RESP_ERR_NO_ERROR) {
        batch->abandon(records.size() - i, queued);
        if (queued == RD_KAFKA_RESP_ERR__FATAL) {
          discard_producer();
        } else {
          abort_open_transaction();
        }
        return unexpected(
            unreachable(std::string("cannot queue the record: ") + rd_kafka_err2str(queued)));
      }
    }
    std::unique_ptr<rd_kafka_consumer_group_metadata_t,
                    decltype(&rd_kafka_consumer_group_metadata_destroy)>
        group_metadata(rd_kafka_consumer_group_metadata(consumer_->get()),
                       rd_kafka_consumer_group_metadata_destroy);
    if (ErrorHandle error{rd_kafka_send_offsets_to_transaction(
            producer, offsets.get(), group_metadata.get(), timeout_ms())}) {
      return unexpected(transaction_failed(std::move(error), first, "send offsets"));
    }
    if (config_.before_transaction_commit) config_.before_transaction_commit();
    // A retriable error (a timeout, a coordinator move) leaves the outcome open: the commit may
    // have gone through, which an abort could not undo. Committing again finishes the same
    // transaction either way, as librdkafka prescribes.
    constexpr int kCommitAttempts = 3;
    for (int attempt = 1;; ++attempt) {
      ErrorHandle error{rd_kafka_commit_transaction(producer, timeout_ms())};
      if (!error) break;
      if (rd_kafka_error_is_retriable(error.get()) && attempt < kCommitAttempts) continue;
      return unexpected(transaction_failed(std::move(error), first, "commit"));
    }
    // commit_transaction flushed, so the reports are in; this only serves their callbacks.
    batch->poll_until(producer, Clock::now() + config_.delivery_timeout);
    // The mock cluster ignores offsets sent to a transaction; committing them again through
    // the consumer keeps a restarted member from re-reading everything there. On a real
    // cluster it rewrites the same offsets. The transaction is what counts either way.
    const auto plain_commit = rd_kafka_commit(consumer_->get(), offsets.get(), 0);
    if (plain_commit != RD_KAFKA_RESP_ERR_NO_ERROR) {
      log_limited(consumer_->context(), false,
                  "offset commit after the transaction failed: " +
                      std::string(rd_kafka_err2str(plain_commit)));
    }
    return batch->positions();
  }

 private:
  ClientSpec consumer_spec(void* owner) const {
    auto spec = config_.spec(RD_KAFKA_CONSUMER, "group " + group_);
    spec.owner = owner;
    spec.tunable.insert(spec.tunable.end(),
                        {// The mock makes every rebalance wait session.timeout.ms - 1 s.
                         {"session.timeout.ms", config_.mock ? "6000" : "10000"},
                         {"heartbeat.interval.ms", "1000"},
                         {"fetch.wait.max.ms", config_.fetch_wait_ms()}});
    spec.required.insert(spec.required.end(), {{"group.id", group_},
                                               {"enable.auto.commit", "false"},
                                               {"enable.auto.offset.store", "false"},
                                               {"isolation.level", "read_committed"},
                                               // Eager: a rebalance revokes everything, then
                                               // assigns; the callback below relies on it.
                                               {"partition.assignment.strategy", "range"},
                                               {"enable.partition.eof", "false"},
                                               {"auto.offset.reset", "earliest"}});
    spec.customize = [](rd_kafka_conf_t* conf) {
      rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    };
    return spec;
  }

  ClientSpec producer_spec() const {
    auto spec = config_.spec(RD_KAFKA_PRODUCER, "transactional producer " + transactional_id_);
    spec.tunable.insert(spec.tunable.end(), {{"linger.ms", "1"}, {"compression.type", "none"}});
    const auto delivery_ms = config_.delivery_timeout.count();
    spec.required.insert(
        spec.required.end(),
        {{"transactional.id", transactional_id_},
         {"enable.idempotence", "true"},
         {"acks", "all"},
         {"message.timeout.ms", std::to_string(delivery_ms)},
         {"transaction.timeout.ms", std::to_string(std::max<int64_t>(60000, delivery_ms))}});
    spec.customize = [](rd_kafka_conf_t* conf) {
      rd_kafka_conf_set_dr_msg_cb(conf, on_delivery_report);
    };
    return spec;
  }

  int timeout_ms() const { return static_cast<int>(config_.delivery_timeout.count()); }

  Result<void> ensure_producer() {
    if (retired_) return unexpected(permanent("the group member has left"));
    if (producer_ready_) return {};
    if (!producer_) {
      try {
        producer_ = std::make_unique<Client>(producer_spec(), config_.extra);
      } catch (const std::exception& e) {
        return unexpected(permanent(e.what()));
      }
      producer_topics_ = std::make_unique<KnownTopics>(producer_->get(), config_.request_timeout);
    }
    if (ErrorHandle error{rd_kafka_init_transactions(producer_->get(), timeout_ms())}) {
      const auto code = rd_kafka_error_code(error.get());
      const std::string text = std::string("cannot start the transactional producer: ") +
                               rd_kafka_error_string(error.get());
      if (rd_kafka_error_is_fatal(error.get())) discard_producer();
      if (is_fencing_error(code)) return unexpected(LogError{text, false, true});
      return unexpected(unreachable(text));
    }
    producer_ready_ = true;
    return {};
  }

  void discard_producer() {
    if (producer_) purge_outstanding(producer_->get());
    producer_topics_.reset();
    producer_.reset();
    producer_ready_ = false;
  }

  // After a failed step: nothing of the transaction becomes visible. If even the abort fails,
  // a new producer's init_transactions finishes the job.
  void abort_open_transaction() {
    if (!producer_) return;
    if (ErrorHandle error{rd_kafka_abort_transaction(producer_->get(), timeout_ms())}) {
      discard_producer();
    }
  }

  LogError transaction_failed(ErrorHandle error, PartitionId partition, const char* step) {
    const auto code = rd_kafka_error_code(error.get());
    const std::string text =
        std::string("transaction ") + step + " failed: " + rd_kafka_error_string(error.get());
    if (rd_kafka_error_is_fatal(error.get()) || std::string_view(step) == "begin") {
      // A fatal error, or a transaction state we cannot reason about: start over.
      discard_producer();
    } else {
      abort_open_transaction();
    }
    if (is_fencing_error(code)) return fenced(partition, "was fenced (" + text + ")");
    return unreachable(text);
  }

  Result<std::vector<Position>> commit_offsets_only(PartitionId partition,
                                                    rd_kafka_topic_partition_list_t* offsets) {
    const auto error = rd_kafka_commit(consumer_->get(), offsets, 0);
    if (error == RD_KAFKA_RESP_ERR_NO_ERROR) return std::vector<Position>{};
    const std::string text = std::string("offset commit failed: ") + rd_kafka_err2str(error);
    if (is_fencing_error(error)) return unexpected(fenced(partition, "was fenced (" + text + ")"));
    return unexpected(unreachable(text));
  }

  LogError fenced(PartitionId partition, const std::string& why) const {
    return LogError{
        "partition " + std::to_string(partition.value()) + " of group " + group_ + " " + why, false,
        true};
  }

  const EngineConfig config_;
  const std::shared_ptr<TransactionalIds> ids_;
  const Topic topic_;
  const std::string group_;
  const std::string transactional_id_;
  std::unique_ptr<Client> consumer_;
  std::mutex commit_mutex_;  // one transaction at a time; revocation waits for it
  std::unique_ptr<Client> producer_;
  std::unique_ptr<KnownTopics> producer_topics_;  // destroyed before producer_
  bool producer_ready_ = false;                   // init_transactions succeeded
  bool retired_ = false;
};

class KafkaPartitionLease : public PartitionLease {
 public:
  KafkaPartitionLease(std::shared_ptr<GroupSession> session, PartitionId partition, Epoch epoch,
                      Offset consumed, std::shared_ptr<LeaseState> state)
      : session_(std::move(session)),
        partition_(partition),
        epoch_(epoch),
        consumed_(consumed),
        state_(std::move(state)) {}

  PartitionId partition() const override { return partition_; }
  Epoch epoch() const override { return epoch_; }
  Offset consumed() const override { return consumed_; }

  Result<std::vector<Position>> commit(const std::vector<OutRecord>& records,
                                       Offset consumed) override {
    auto committed = session_->commit(*state_, partition_, records, consumed);
    if (committed) consumed_ = consumed;
    return committed;
  }

  const GroupSession* session() const { return session_.get(); }
  GroupSession::Share share(const std::vector<OutRecord>& records, Offset consumed) const {
    return {state_.get(), partition_, &records, consumed};
  }
  // After a group commit that included this lease went through.
  void committed(Offset consumed) { consumed_ = consumed; }

 private:
  const std::shared_ptr<GroupSession> session_;
  const PartitionId partition_;
  const Epoch epoch_;
  Offset consumed_;
  const std::shared_ptr<LeaseState> state_;
};

class KafkaGroupConsumer : public GroupConsumer {
 public:
  KafkaGroupConsumer(const EngineConfig& config, std::shared_ptr<TransactionalIds> ids, Topic topic,
                     const std::string& group, RebalanceListener& listener)
      : listener_(listener),
        topic_(topic),
        request_timeout_(std::max(config.delivery_timeout, config.request_timeout)),
        session_(std::make_shared<GroupSession>(config, std::move(ids), topic, group, this)),
        consumer_(session_->consumer().get()) {
    session_->prepare_producer();
    auto subscription = new_partition_list(1);
    const std::string name(topic_name(topic));
    rd_kafka_topic_partition_list_add(subscription.get(), name.c_str(), RD_KAFKA_PARTITION_UA);
    const auto error = rd_kafka_subscribe(consumer_, subscription.get());
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("cannot join Kafka group " + group + ": " + rd_kafka_err2str(error));
    }
  }

  ~KafkaGroupConsumer() override {
    if (!closed_) {
      // No listener calls here: it may already be gone.
      listener_active_ = false;
      revoke(owned_partitions());
      rd_kafka_consumer_close(consumer_);
      session_->retire();
    }
    session_->consumer().context().owner = nullptr;
  }

  Result<std::vector<Record>> poll(size_t max_records, std::chrono::milliseconds wait) override {
    if (closed_) return unexpected(permanent("the group consumer is closed"));
    const auto deadline = Clock::now() + wait;
    batch_.clear();
    max_records = std::max<size_t>(max_records, 1);
    settle_if_due();
    rethrow_listener_failure();
    while (batch_.size() < max_records) {
      const auto remaining =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      int64_t timeout_ms = batch_.empty() ? std::max<int64_t>(remaining.count(), 0) : 0;
      if (unsettled_) timeout_ms = std::min<int64_t>(timeout_ms, 200);
      MessageHandle message(rd_kafka_consumer_poll(consumer_, static_cast<int>(timeout_ms)));
      rethrow_listener_failure();
      if (!message) {
        if (!batch_.empty() || Clock::now() >= deadline) break;
        settle_if_due();
        rethrow_listener_failure();
        continue;
      }
      if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        auto error = consumer_error(session_->consumer(), *message);
        if (error && batch_.empty()) return unexpected(*error);
        continue;
      }
      auto next = next_.find(message->partition);
      if (next == next_.end() || message->offset < next->second) continue;
      next->second = message->offset + 1;
      batch_.push_back(to_record(topic_, *message));
    }
    return std::exchange(batch_, {});
  }

  Result<std::vector<std::vector<Position>>> commit_together(
      const std::vector<LeaseCommit>& commits, const BeforeAnnouncing& before_announcing) override {
    std::vector<GroupSession::Share> shares;
    std::vector<KafkaPartitionLease*> leases;
    for (const auto& c : commits) {
      auto* lease = dynamic_cast<KafkaPartitionLease*>(c.lease);
      if (lease == nullptr || lease->session() != session_.get())
        return unexpected(permanent("a group commit names a lease of another group member"));
      shares.push_back(lease->share(*c.records, c.consumed));
      leases.push_back(lease);
    }
    auto committed = session_->commit(shares);
    if (!committed) return unexpected(committed.error());
    for (size_t i = 0; i < leases.size(); ++i) leases[i]->committed(commits[i].consumed);
    // Kafka tells readers nothing in process: the hook simply runs once the commit stands.
    auto per_commit = positions_per_commit(*committed, commits);
    call_before_announcing(before_announcing, per_commit);
    return per_commit;
  }

  void seek(PartitionId partition, Offset offset) override {
    const int32_t p = partition.value();
    if (settling_) {
      // Inside on_assigned: the assignment that follows starts there.
      if (auto it = starting_at_.find(p); it != starting_at_.end()) it->second = offset.value();
      return;
    }
    auto next = next_.find(p);
    if (next == next_.end()) return;
    next->second = offset.value();
    std::erase_if(batch_, [&](const Record& r) { return r.partition.value() == p; });
    auto list = new_partition_list(1);
    const std::string name(topic_name(topic_));
    rd_kafka_topic_partition_list_add(list.get(), name.c_str(), p)->offset = offset.value();
    ErrorHandle error(rd_kafka_seek_partitions(consumer_, list.get(),
                                               static_cast<int>(request_timeout_.count())));
    const bool failed = error || list->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR;
    if (failed) {
      // Assigning again with explicit offsets also moves the position, only less cheaply.
      log_limited(session_->consumer().context(), false,
                  "seek failed (" +
                      std::string(error ? rd_kafka_error_string(error.get())
                                        : rd_kafka_err2str(list->elems[0].err)) +
                      "); assigning again");
      assign_owned();
    }
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    unsettled_.reset();
    const auto owned = owned_partitions();
    if (!owned.empty()) notify_revoked(owned);
    revoke(owned);
    listener_active_ = false;
    const auto error = rd_kafka_consumer_close(consumer_);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      log_limited(session_->consumer().context(), false,
                  std::string("leaving the group failed: ") + rd_kafka_err2str(error));
    }
    session_->retire();
  }

  // Runs inside rd_kafka_consumer_poll / rd_kafka_consumer_close on this member's thread.
  void rebalance(rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* partitions) {
    if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      // The eager protocol revokes everything before it assigns; should it ever not, the old
      // leases must not outlive their assignment.
      if (const auto owned = owned_partitions(); !owned.empty()) {
        if (listener_active_) notify_revoked(owned);
        revoke(owned);
      }
      unsettled_.reset(rd_kafka_topic_partition_list_copy(partitions));
      // Nothing is fetched until settle() assigns with the group's committed offsets.
      auto nothing = new_partition_list(0);
      rd_kafka_assign(consumer_, nothing.get());
      settle();
      return;
    }
    if (error != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      log_limited(session_->consumer().context(), true,
                  std::string("rebalance failed: ") + rd_kafka_err2name(error));
    }
    unsettled_.reset();
    const auto owned = owned_partitions();
    if (!owned.empty() && listener_active_) notify_revoked(owned);
    revoke(owned);
    rd_kafka_assign(consumer_, nullptr);
  }

 private:
  // Turns the group's assignment into leases: reads the committed offsets, tells the listener
  // (which may seek), then starts fetching. On failure the partitions stay unsettled and the
  // next poll tries again.
  void settle() {
    if (!unsettled_) return;
    next_settle_attempt_ = Clock::now() + std::chrono::seconds(1);
    PartitionList committed(rd_kafka_topic_partition_list_copy(unsettled_.get()));
    auto error =
        rd_kafka_committed(consumer_, committed.get(), static_cast<int>(request_timeout_.count()));
    for (int i = 0; error == RD_KAFKA_RESP_ERR_NO_ERROR && i < committed->cnt; ++i) {
      error = committed->elems[i].err;
    }
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      log_limited(session_->consumer().context(), false,
                  std::string("cannot read the group's committed offsets, will retry: ") +
                      rd_kafka_err2str(error));
      return;
    }
    unsettled_.reset();
    const Epoch epoch{group_generation(consumer_).value_or(++fallback_epoch_)};
    std::vector<std::unique_ptr<PartitionLease>> leases;
    std::vector<PartitionId> assigned;
    starting_at_.clear();
    for (int i = 0; i < committed->cnt; ++i) {
      const auto& element = committed->elems[i];
      // No committed offset yet (RD_KAFKA_OFFSET_INVALID): the partition starts at 0.
      const int64_t consumed = std::max<int64_t>(element.offset, 0);
      auto state = std::make_shared<LeaseState>();
      owned_[element.partition] = state;
      starting_at_[element.partition] = consumed;
      assigned.push_back(PartitionId{element.partition});
      leases.push_back(std::make_unique<KafkaPartitionLease>(
          session_, PartitionId{element.partition}, epoch, Offset{consumed}, state));
    }
    settling_ = true;
    try {
      listener_.on_assigned(std::move(leases));
    } catch (...) {
      // The listener could not take them (e.g. rebuilding state failed): let it drop what it
      // took, and offer them again at the next poll. The caller of poll sees the error.
      listener_failure_ = std::current_exception();
      settling_ = false;
      notify_revoked(assigned);
      revoke(assigned);
      unsettled_.reset(rd_kafka_topic_partition_list_copy(committed.get()));
      return;
    }
    settling_ = false;
    for (const auto& [partition, offset] : starting_at_) next_[partition] = offset;
    starting_at_.clear();
    assign_owned();
  }

  void settle_if_due() {
    if (unsettled_ && Clock::now() >= next_settle_attempt_) settle();
  }

  void rethrow_listener_failure() {
    if (!listener_failure_) return;
    batch_.clear();
    std::rethrow_exception(std::exchange(listener_failure_, nullptr));
  }

  void assign_owned() {
    auto list = new_partition_list(static_cast<int>(next_.size()));
    const std::string name(topic_name(topic_));
    for (const auto& [partition, offset] : next_) {
      rd_kafka_topic_partition_list_add(list.get(), name.c_str(), partition)->offset = offset;
    }
    const auto error = rd_kafka_assign(consumer_, list.get());
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      log_limited(session_->consumer().context(), true,
                  std::string("cannot assign partitions: ") + rd_kafka_err2str(error));
    }
  }

  void notify_revoked(const std::vector<PartitionId>& partitions) {
    try {
      listener_.on_revoked(partitions);
    } catch (const std::exception& e) {
      logging::error("kafka", std::string("rebalance listener failed on revoke: ") + e.what());
    }
  }

  // After this no lease of these partitions can commit; a commit in progress finishes first.
  void revoke(const std::vector<PartitionId>& partitions) {
    {
      std::lock_guard lock(session_->commit_mutex());
      for (const auto& p : partitions) {
        if (auto it = owned_.find(p.value()); it != owned_.end()) it->second->revoked = true;
      }
    }
    for (const auto& p : partitions) {
      owned_.erase(p.value());
      next_.erase(p.value());
    }
    std::erase_if(batch_, [&](const Record& r) { return !owned_.contains(r.partition.value()); });
  }

  std::vector<PartitionId> owned_partitions() const {
    std::vector<PartitionId> out;
    for (const auto& [partition, state] : owned_) out.push_back(PartitionId{partition});
    return out;
  }

  RebalanceListener& listener_;
  const Topic topic_;
  const std::chrono::milliseconds request_timeout_;
  const std::shared_ptr<GroupSession> session_;
  rd_kafka_t* const consumer_;
  std::map<int32_t, std::shared_ptr<LeaseState>> owned_;
  std::map<int32_t, int64_t> next_;         // next offset to return per owned partition
  std::map<int32_t, int64_t> starting_at_;  // while settling: where each partition starts
  PartitionList unsettled_;                 // assigned by the group, not yet taken
  Clock::time_point next_settle_attempt_{};
  std::vector<Record> batch_;  // the poll in progress (a revoke drops records from it)
  std::exception_ptr listener_failure_;
  int64_t fallback_epoch_ = 0;
  bool settling_ = false;
  bool listener_active_ = true;
  bool closed_ = false;
};

void on_rebalance(rd_kafka_t* consumer, rd_kafka_resp_err_t error,
                  rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  auto* member = static_cast<KafkaGroupConsumer*>(static_cast<ClientContext*>(opaque)->owner);
  if (member == nullptr) {
    rd_kafka_assign(consumer, nullptr);
    return;
  }
  member->rebalance(error, partitions);
}

}  // namespace

std::unique_ptr<GroupConsumer> make_group_consumer(const EngineConfig& config,
                                                   std::shared_ptr<TransactionalIds> ids,
                                                   Topic topic, const std::string& group,
                                                   RebalanceListener& listener) {
  return std::make_unique<KafkaGroupConsumer>(config, std::move(ids), topic, group, listener);
}

}  // namespace counsel::log::kafka
