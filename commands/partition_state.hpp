#pragma once
// The processor's in-memory state for one owned partition: the aggregates of every stream
// that lives there, the tail of the hash chain, and recent command ids (for dedupe).
// Synchronous and I/O-free, like a Redpanda *_stm: the processor replays records into it.
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "commands/command.hpp"
#include "domain/aggregates/aggregate_kind.hpp"
#include "domain/events/envelope.hpp"
#include "infra/log/log.hpp"

namespace counsel::commands {

struct StreamState {
  const AggregateKind* kind = nullptr;
  std::unique_ptr<AggregateState> state;
  int64_t sequence = 0;  // last event sequence in the stream
};

struct Outcome {
  std::vector<EventEnvelope> events;  // sealed, with predicted positions below
  CommandResult result;
};

class PartitionState {
 public:
  PartitionState(log::PartitionId partition, size_t dedupe_capacity = 200000);

  log::PartitionId partition() const { return partition_; }
  // Events in the partition so far: the next event's ordinal. Result positions are ordinals
  // (what projections count), not offsets: they differ on Kafka, where transaction markers
  // take offsets of their own.
  int64_t event_count() const { return event_count_; }
  const std::string& last_hash() const { return last_hash_; }
  size_t stream_count() const { return streams_.size(); }

  // Replays one event from the events log (rebuild). Events must arrive in log order.
  void replay(const EventEnvelope& e);
  // A record of the events log this build cannot decode still counts as an event.
  void replay_undecodable() { ++event_count_; }

  // Decides one command against the current state; on success the events are applied to
  // the state and chained, and the outcome says what to append. Pure apart from `new_id`.
  Outcome handle(const Command& cmd, Timestamp now, const std::function<Uuid()>& new_id);

 private:
  StreamState& stream(const std::string& key, const AggregateKind* kind);
  void remember(const CommandId& id, std::string stream, std::optional<CommandResult> result);

  struct Remembered {
    std::string stream;
    std::optional<CommandResult> result;  // absent when learned from replayed events only
  };

  log::PartitionId partition_;
  int64_t event_count_ = 0;
  std::string last_hash_;
  std::unordered_map<std::string, StreamState> streams_;
  std::unordered_map<CommandId, Remembered> seen_;
  std::deque<CommandId> seen_order_;
  size_t dedupe_capacity_;
};

}  // namespace counsel::commands
