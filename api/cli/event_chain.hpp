#pragma once
// The per-partition hash chain walk shared by `counsel log check` and `counsel audit verify`,
// and the bounded partition reader that `audit replay` uses too.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "domain/events/envelope.hpp"
#include "infra/crypto/sha256.hpp"
#include "infra/log/log.hpp"

namespace counsel::api {

enum class ChainFault {
  undecodable,         // the record is not an event envelope
  hash_mismatch,       // content no longer hashes to the stored hash: the event was edited
  prev_hash_mismatch,  // does not link to the previous record: deleted, reordered or inserted
  missing_offsets,     // a dense-offset engine has no record at some offsets: deleted
  wrong_partition,     // the envelope names another partition: moved between partitions
  sequence_gap,        // a stream's sequence is not previous + 1
  checkpoint_mismatch  // the event at a trusted checkpoint does not have the trusted hash
};
std::string_view chain_fault_name(ChainFault fault);

struct ChainProblem {
  ChainFault fault;
  int32_t partition = 0;
  int64_t offset = 0;    // where the problem is (for missing_offsets: the first missing one)
  std::string event_id;  // empty when undecodable or missing
  std::string detail;
  // "partition P offset O (event ID): hash_mismatch: detail"
  std::string describe() const;
};

// A position whose event hash the caller trusts (e.g. from an earlier verify): the walk
// starts there instead of at offset 0.
struct ChainCheckpoint {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string hash;
};
// "P:O:HASH"; nullopt when malformed.
std::optional<ChainCheckpoint> parse_chain_checkpoint(std::string_view text);

// Checks one partition's records in offset order, one at a time, so the caller decides how
// many records it holds. Stateful: streams' last sequences and the previous hash.
class PartitionChainWalk {
 public:
  PartitionChainWalk(int32_t partition, bool dense_offsets,
                     std::optional<ChainCheckpoint> checkpoint = std::nullopt);

  // Checks the record at `offset` and appends what is wrong with it to `problems`. Returns the
  // decoded envelope, or nullopt when the record is not one.
  std::optional<EventEnvelope> check(int64_t offset, std::string_view value,
                                     std::vector<ChainProblem>& problems);
  // The same checks, without decoding records that are in canonical form (see
  // canonical_event_view.hpp): for walks that need no envelope. Returns false when the record is
  // not an event envelope.
  bool check_record(int64_t offset, std::string_view value, std::vector<ChainProblem>& problems);

  int64_t start_offset() const { return start_offset_; }
  int64_t events_checked() const { return events_checked_; }
  // Hash and offset of the last event seen: a checkpoint for the next walk.
  const std::string& last_hash() const { return prev_hash_; }
  int64_t last_offset() const { return expected_offset_ - 1; }

 private:
  // What the checks read from an event, wherever it was read from.
  struct Link {
    std::string_view id;
    std::string_view stream;
    std::string_view prev_hash;
    std::string_view hash;
    int64_t sequence = 0;
    int32_t partition = 0;
  };
  void check_offset(int64_t offset, std::vector<ChainProblem>& problems);
  void check_link(int64_t offset, const Link& link, std::string_view recomputed_hash,
                  std::vector<ChainProblem>& problems);
  std::optional<EventEnvelope> decode(int64_t offset, std::string_view value,
                                      std::vector<ChainProblem>& problems);
  void check_decoded(int64_t offset, const EventEnvelope& e, std::vector<ChainProblem>& problems);

  // Lets a stream's sequence be looked up by a view into the record, without a copy.
  struct StreamHash {
    using is_transparent = void;
    size_t operator()(std::string_view stream) const {
      return std::hash<std::string_view>{}(stream);
    }
  };

  int32_t partition_;
  bool dense_offsets_;
  std::optional<ChainCheckpoint> checkpoint_;
  int64_t start_offset_ = 0;
  int64_t expected_offset_ = 0;
  int64_t events_checked_ = 0;
  std::string prev_hash_;
  // After a checkpoint a stream's earlier events are not seen: its first sequence is trusted.
  bool trust_first_sequence_ = false;
  std::unordered_map<std::string, int64_t, StreamHash, std::equal_to<>> sequences_;
  // Behind a pointer so a walk stays movable.
  std::unique_ptr<crypto::Sha256> sha256_ = std::make_unique<crypto::Sha256>();
};

// Reads one partition of the events topic from `from` up to `end` through `reader` (reused
// across partitions: on postgres each new reader is a new server process), handing at most
// `batch_size` records at a time to `on_batch` (return false to stop). Memory is bounded by one
// batch. Throws std::runtime_error when the log fails.
void read_partition(log::LogReader& reader, int32_t partition, int64_t from, int64_t end,
                    size_t batch_size,
                    const std::function<bool(const std::vector<log::Record>&)>& on_batch);

}  // namespace counsel::api
