#include "api/cli/event_chain.hpp"

#include <charconv>
#include <stdexcept>

namespace counsel::api {
namespace {

bool parse_int(std::string_view text, int64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

bool is_sha256_hex(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::string_view chain_fault_name(ChainFault fault) {
  switch (fault) {
    case ChainFault::undecodable:
      return "undecodable";
    case ChainFault::hash_mismatch:
      return "hash_mismatch";
    case ChainFault::prev_hash_mismatch:
      return "prev_hash_mismatch";
    case ChainFault::missing_offsets:
      return "missing_offsets";
    case ChainFault::wrong_partition:
      return "wrong_partition";
    case ChainFault::sequence_gap:
      return "sequence_gap";
    case ChainFault::checkpoint_mismatch:
      return "checkpoint_mismatch";
  }
  return "unknown";
}

std::string ChainProblem::describe() const {
  std::string text = "partition " + std::to_string(partition) + " offset " + std::to_string(offset);
  if (!event_id.empty()) text += " (event " + event_id + ")";
  text += ": ";
  text += chain_fault_name(fault);
  if (!detail.empty()) text += ": " + detail;
  return text;
}

std::optional<ChainCheckpoint> parse_chain_checkpoint(std::string_view text) {
  auto first = text.find(':');
  auto second = first == std::string_view::npos ? first : text.find(':', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  int64_t partition = 0, offset = 0;
  if (!parse_int(text.substr(0, first), partition) ||
      !parse_int(text.substr(first + 1, second - first - 1), offset) || partition < 0 ||
      partition > 1024 || offset < 0)
    return std::nullopt;
  auto hash = text.substr(second + 1);
  if (!is_sha256_hex(hash)) return std::nullopt;
  return ChainCheckpoint{static_cast<int32_t>(partition), offset, std::string(hash)};
}

PartitionChainWalk::PartitionChainWalk(int32_t partition, bool dense_offsets,
                                       std::optional<ChainCheckpoint> checkpoint)
    : partition_(partition), dense_offsets_(dense_offsets), checkpoint_(std::move(checkpoint)) {
  if (checkpoint_) {
    start_offset_ = checkpoint_->offset;
    trust_first_sequence_ = true;
  }
  expected_offset_ = start_offset_;
}

std::optional<EventEnvelope> PartitionChainWalk::check(int64_t offset, std::string_view value,
                                                       std::vector<ChainProblem>& problems) {
  ++events_checked_;
  const bool at_checkpoint = checkpoint_ && events_checked_ == 1;
  // Kafka's transaction markers leave offsets no reader sees; the chain still links there.
  if (offset != expected_offset_ && dense_offsets_) {
    problems.push_back({ChainFault::missing_offsets, partition_, expected_offset_, "",
                        "no record at offsets " + std::to_string(expected_offset_) + ".." +
                            std::to_string(offset - 1) + " (next record is at " +
                            std::to_string(offset) + ")"});
  }
  expected_offset_ = offset + 1;
  std::string error;
  auto e = decode_event(value, &error);
  if (!e) {
    problems.push_back({ChainFault::undecodable, partition_, offset, "", error});
    return std::nullopt;
  }
  const std::string id = e->id.value().str();
  const std::string recomputed = compute_event_hash(*e);
  if (at_checkpoint) {
    // The trusted hash replaces everything before it, so prev_hash is taken on trust.
    if (offset != checkpoint_->offset || e->hash != checkpoint_->hash ||
        recomputed != checkpoint_->hash)
      problems.push_back({ChainFault::checkpoint_mismatch, partition_, offset, id,
                          "the checkpoint trusts hash " + checkpoint_->hash + " at offset " +
                              std::to_string(checkpoint_->offset) + "; the event there hashes to " +
                              recomputed});
  } else {
    if (e->prev_hash != prev_hash_)
      problems.push_back({ChainFault::prev_hash_mismatch, partition_, offset, id,
                          "prev_hash " + e->prev_hash + " but the previous event's hash is " +
                              (prev_hash_.empty() ? "\"\" (start)" : prev_hash_)});
    if (recomputed != e->hash)
      problems.push_back({ChainFault::hash_mismatch, partition_, offset, id,
                          "stored hash " + e->hash + " but the content hashes to " + recomputed});
  }
  if (e->partition != partition_)
    problems.push_back({ChainFault::wrong_partition, partition_, offset, id,
                        "the event names partition " + std::to_string(e->partition)});
  // Link the next event to the stored hash: an edited event is then reported once, where it
  // is, rather than again at its successor.
  prev_hash_ = e->hash;
  auto [seq, first_seen] = sequences_.try_emplace(e->stream, 0);
  if (!(first_seen && trust_first_sequence_) && e->sequence != seq->second + 1)
    problems.push_back({ChainFault::sequence_gap, partition_, offset, id,
                        "stream " + e->stream + " sequence " + std::to_string(e->sequence) +
                            " after " + std::to_string(seq->second)});
  seq->second = e->sequence;
  return e;
}

void read_partition(log::Log& log, int32_t partition, int64_t from, int64_t end, size_t batch_size,
                    const std::function<bool(const std::vector<log::Record>&)>& on_batch) {
  auto read = log::read_partition_range(
      log, log::Topic::events, log::PartitionId{partition}, log::Offset{from}, log::Offset{end},
      batch_size, [&](std::vector<log::Record>& records) { return on_batch(records); });
  if (!read) throw std::runtime_error("cannot read the events log: " + read.error().message);
}

}  // namespace counsel::api
