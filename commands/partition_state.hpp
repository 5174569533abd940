#pragma once
// The processor's in-memory state for one owned partition: the aggregates of every stream
// that lives there, the tail of the hash chain, and recent command ids (for dedupe).
// Synchronous and I/O-free, like a Redpanda *_stm: the processor replays records into it.
//
// Dedupe window (what "a redelivered command yields the first outcome" covers):
//  - ids: at least the last DedupeLimits::ids / 2 accepted command ids of the partition (16,384
//    of 32,768 by default; two generations of ids/2, the older dropped when the newer fills),
//    learned from replayed events and from commands accepted here. A command whose id is in the
//    window is never applied again: it is answered accepted, with the resource as the aggregate
//    of the command's stream holds it now, and no events.
//  - results: the full result (event positions, body as it was) of the last DedupeLimits::results
//    commands accepted by this process (1,024, and at most DedupeLimits::result_bytes of bodies,
//    1 MiB), so a retry right after the first try gets exactly the first answer.
//  Rejections are not remembered: a retried rejected command is decided afresh.
// Ids are kept compactly (about 20 bytes each: open addressing, no stream, no order list) because
// they are most of a partition's memory besides the aggregates; results are bounded by bytes
// because bodies can be large.
#include <boost/unordered/unordered_flat_set.hpp>
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

struct DedupeLimits {
  size_t ids = 32768;
  size_t results = 1024;
  size_t result_bytes = 1 << 20;
};

struct Outcome {
  std::vector<EventEnvelope> events;  // sealed, with predicted positions below
  CommandResult result;
};

class PartitionState {
 public:
  explicit PartitionState(log::PartitionId partition, DedupeLimits limits = {});

  log::PartitionId partition() const { return partition_; }
  // Events in the partition so far: the next event's ordinal. Result positions are ordinals
  // (what projections count), not offsets: they differ on Kafka, where transaction markers
  // take offsets of their own.
  int64_t event_count() const { return event_count_; }
  const std::string& last_hash() const { return last_hash_; }
  size_t stream_count() const { return streams_.size(); }
  size_t remembered_ids() const { return seen_.size() + seen_before_.size(); }
  size_t remembered_results() const { return results_.size(); }
  // Approximate heap bytes of the dedupe memory (ids and kept results).
  size_t dedupe_bytes() const;

  // Replays one event from the events log (rebuild). Events must arrive in log order.
  void replay(const EventEnvelope& e);
  // A record of the events log this build cannot decode still counts as an event.
  void replay_undecodable() { ++event_count_; }

  // Decides one command against the current state; on success the events are applied to
  // the state and chained, and the outcome says what to append. Pure apart from `new_id`.
  Outcome handle(const Command& cmd, Timestamp now, const std::function<Uuid()>& new_id);

 private:
  StreamState& stream(const std::string& key, const AggregateKind* kind);
  void remember(const CommandId& id);
  void remember_result(const CommandResult& result);

  log::PartitionId partition_;
  int64_t event_count_ = 0;
  std::string last_hash_;
  std::unordered_map<std::string, StreamState> streams_;
  using IdSet = boost::unordered_flat_set<CommandId, std::hash<CommandId>>;
  IdSet seen_;         // the current generation of ids, up to limits_.ids / 2
  IdSet seen_before_;  // the previous one

  std::unordered_map<CommandId, CommandResult> results_;
  std::deque<CommandId> results_order_;
  size_t result_bytes_ = 0;
  DedupeLimits limits_;
};

}  // namespace counsel::commands
