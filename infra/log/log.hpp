#pragma once
// The log port: topics of partitioned, keyed records with offsets. Everything above infra
// sees only this; two engines implement it (postgres_log, and kafka_log later).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/expected.hpp"
#include "domain/named_type.hpp"
#include "domain/time.hpp"

namespace counsel::log {

using Offset = named_type<int64_t, struct offset_tag>;
using PartitionId = named_type<int32_t, struct partition_tag>;
using Epoch = named_type<int64_t, struct epoch_tag>;

enum class Topic : int16_t { commands = 1, events = 2, results = 3 };
// Kafka topic names; the postgres engine stores the numeric id.
std::string_view topic_name(Topic t);
// Every topic, for engines that lay out storage per topic.
inline constexpr Topic kAllTopics[] = {Topic::commands, Topic::events, Topic::results};

struct LogError {
  std::string message;
  bool is_retryable = true;  // transient (connection lost) vs. permanent (fenced, bad config)
  bool fenced = false;       // this owner lost the partition: stop working on it
};

template <class T>
using Result = Expected<T, LogError>;

struct Record {
  Topic topic = Topic::events;
  PartitionId partition;
  Offset offset;
  std::string key;
  std::string value;
  Timestamp appended_at{};
};

struct OutRecord {
  Topic topic = Topic::events;
  std::string key;
  std::string value;
  // Defaults to partition_for(key); results name the partition of the command they answer.
  std::optional<PartitionId> partition;
  // The record counts only once something the caller waits for follows it (a command whose
  // sender waits for its result): its append may return before it is durable. Engines that
  // can (postgres: a commit without the WAL flush) save the wait when every record of an
  // append says so; the later synchronous commit of the outcome makes it durable with it.
  bool durable_with_outcome = false;
};

struct Position {
  PartitionId partition;
  Offset offset;
  friend bool operator==(const Position&, const Position&) = default;
};

// Kafka's default partitioner for keyed records (murmur2, as Java clients and librdkafka's
// murmur2_random do), so any tool agrees on where a stream lives.
PartitionId partition_for(std::string_view key, int partition_count);
uint32_t murmur2(std::string_view key);

class Log;

// Reads assigned partitions of one topic. Not thread-safe: one per thread.
class LogReader {
 public:
  virtual ~LogReader() = default;
  // Replaces the assignment: read each partition from the given offset.
  virtual void assign(Topic topic, const std::vector<Position>& from) = 0;
  // Returns up to max_records in offset order per partition; waits up to `wait` (woken as soon
  // as anything is appended) when nothing is available. Advances the reader's positions.
  virtual Result<std::vector<Record>> poll(size_t max_records, std::chrono::milliseconds wait) = 0;
  // True when the reader has seen that an assigned partition holds nothing past its position
  // (its end at that moment). An empty poll alone does not say so: on Kafka it may only mean
  // the fetch has not arrived yet, which under load takes longer than any fixed wait.
  virtual bool at_end(PartitionId partition) const = 0;
  // The one call another thread may make: a poll waiting now (or the next one) returns soon,
  // possibly with nothing, so a loop that polls with long waits stops promptly. An engine that
  // cannot cut a wait short returns at its end.
  virtual void interrupt() {}
  // Also safe from any thread. Records [first, end) of `partition` reached this reader's user
  // another way (its own process committed them): when the reader's position of the partition
  // is within the range it moves on to `end` without reading them. A range past the position
  // waits until the reads reach it; the reader never skips a record it was not told of. An
  // engine that cannot skip cheaply (Kafka: a seek drops the prefetched messages) reads them
  // and returns false.
  virtual bool skip_delivered(PartitionId partition, Offset first, Offset end) {
    (void)partition, (void)first, (void)end;
    return false;
  }
  // For a user that reads only each record's offset and value (audit verify, which hashes the
  // whole log): an engine that can leave the key and the append time out of some of its reads
  // does, so they may come back empty and zero. Holds for the reader's later polls.
  virtual void read_offsets_and_values_only() {}
};

// Every partition's end offset of `topic`, partition 0 first: where a reader that wants only
// what is appended from now on starts, and what lag is measured against. Fails with the first
// partition that cannot be read.
Result<std::vector<Position>> end_positions(Log& log, Topic topic);

// Reads [from, end) of one partition in offset order, handing batches of up to `batch` records
// to `sink` (which returns false to stop early). Ends at `end`, or where the reader has seen the
// partition's end (on Kafka the offsets before `end` may be transaction markers, which no reader
// ever sees). Fails rather than stopping short when the log neither yields records nor reports
// its end for `stall_timeout`. Returns the number of records handed to `sink`.
Result<int64_t> read_partition_range(
    Log& log, Topic topic, PartitionId partition, Offset from, Offset end, size_t batch,
    const std::function<bool(std::vector<Record>&)>& sink,
    std::chrono::milliseconds stall_timeout = std::chrono::seconds(60));
// The same through a reader the caller keeps (its assignment is replaced). Reading several
// ranges through one reader is much cheaper on postgres: a new reader is a new server process,
// which first faults in every shared buffer it touches (about 60 ms per 5,000 records).
Result<int64_t> read_partition_range(
    LogReader& reader, Topic topic, PartitionId partition, Offset from, Offset end, size_t batch,
    const std::function<bool(std::vector<Record>&)>& sink,
    std::chrono::milliseconds stall_timeout = std::chrono::seconds(60));

// A partition this owner holds exclusively. Every commit is fenced by the owner epoch, so
// a stalled former owner can never append after a takeover.
class PartitionLease {
 public:
  virtual ~PartitionLease() = default;
  virtual PartitionId partition() const = 0;
  virtual Epoch epoch() const = 0;
  // The group's consumed position (next offset to read) in the group's topic.
  virtual Offset consumed() const = 0;
  // Atomically appends `records` and stores `consumed` as the group's position.
  virtual Result<std::vector<Position>> commit(const std::vector<OutRecord>& records,
                                               Offset consumed) = 0;
};

// One owned partition's share of a group commit.
struct LeaseCommit {
  PartitionLease* lease = nullptr;
  const std::vector<OutRecord>* records = nullptr;
  Offset consumed;
};

// A group commit's positions, one per record in commit order, handed back per commit.
std::vector<std::vector<Position>> positions_per_commit(const std::vector<Position>& positions,
                                                        const std::vector<LeaseCommit>& commits);

// Called from inside GroupConsumer::poll, on the polling thread (as librdkafka does).
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  virtual void on_assigned(std::vector<std::unique_ptr<PartitionLease>> leases) = 0;
  // The partitions are no longer ours: drop state and in-flight work for them.
  virtual void on_revoked(const std::vector<PartitionId>& partitions) = 0;
};

// Membership of a consumer group over one topic: partitions are shared out among live
// members; each assigned partition comes with a lease.
class GroupConsumer {
 public:
  virtual ~GroupConsumer() = default;
  // Records of owned partitions, starting at each lease's consumed position (or a seek).
  virtual Result<std::vector<Record>> poll(size_t max_records, std::chrono::milliseconds wait) = 0;
  // Moves the read position of an owned partition (projectors keep their own checkpoints).
  virtual void seek(PartitionId partition, Offset offset) = 0;
  // Leaves the group, releasing every partition (on_revoked is called first).
  virtual void close() = 0;
  // As LogReader::interrupt: safe from another thread; a waiting poll returns soon.
  virtual void interrupt() {}
  // Commits several owned partitions' records and consumed positions at once, all or nothing:
  // one transaction (postgres: one disk flush; Kafka: one producer transaction) instead of one
  // per partition, which is what bounds a processor's throughput. Returns each commit's
  // positions. On failure nothing is committed; `fenced` says some lease lost its partition
  // (PartitionLease::commit of that lease alone says which).
  //
  // `before_announcing`, when set, gets those positions once the commit stands and before the
  // commit's announcement wakes this process's readers: what it hands on in process is there
  // before the reads that wake-up leads to (the processor's results, which the api's reader
  // then skips). A reader may still read the records first on its own schedule (a full read
  // after a timed-out wait), so what it hands on must be safe to have twice. Its exceptions
  // are logged, never a failed commit.
  using BeforeAnnouncing = std::function<void(const std::vector<std::vector<Position>>&)>;
  virtual Result<std::vector<std::vector<Position>>> commit_together(
      const std::vector<LeaseCommit>& commits, const BeforeAnnouncing& before_announcing) = 0;
  Result<std::vector<std::vector<Position>>> commit_together(
      const std::vector<LeaseCommit>& commits) {
    return commit_together(commits, {});
  }
};

// Runs a group commit's before_announcing hook, if set. The commit stands whatever it does:
// what it throws is logged, not passed on.
void call_before_announcing(const GroupConsumer::BeforeAnnouncing& hook,
                            const std::vector<std::vector<Position>>& positions) noexcept;

class Log {
 public:
  virtual ~Log() = default;
  virtual int partition_count() const = 0;
  PartitionId partition_for(std::string_view key) const {
    return log::partition_for(key, partition_count());
  }
  // Appends without ownership (commands from api processes). The batch is atomic.
  virtual Result<std::vector<Position>> append(const std::vector<OutRecord>& records) = 0;
  // Next offset to be written in a partition.
  virtual Result<Offset> end_offset(Topic topic, PartitionId partition) = 0;
  virtual std::unique_ptr<LogReader> reader() = 0;
  virtual std::unique_ptr<GroupConsumer> join_group(Topic topic, const std::string& group,
                                                    RebalanceListener& listener) = 0;
  // Cheap reachability check for /status.
  virtual Result<bool> ping() = 0;
  // True when every offset of a partition holds a record (postgres). Kafka's transaction
  // markers occupy offsets that readers never see, so gaps there are normal, and counting
  // records (not subtracting offsets) is how positions compare across engines.
  virtual bool dense_offsets() const { return true; }
  virtual std::string engine_name() const = 0;
};

}  // namespace counsel::log
