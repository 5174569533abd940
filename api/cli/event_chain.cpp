#include "api/cli/event_chain.hpp"

#include <charconv>
#include <stdexcept>

#include "domain/events/canonical_event_view.hpp"

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
  check_offset(offset, problems);
  auto e = decode(offset, value, problems);
  if (e) check_decoded(offset, *e, problems);
  return e;
}

bool PartitionChainWalk::check_record(int64_t offset, std::string_view value,
                                      std::vector<ChainProblem>& problems) {
  check_offset(offset, problems);
  if (auto view = view_canonical_event(value)) {
    const auto recomputed = sha256_->hex({view->hash_input_head, view->hash_input_tail});
    check_link(
        offset,
        Link{view->id, view->stream, view->prev_hash, view->hash, view->sequence, view->partition},
        recomputed, problems);
    return true;
  }
  auto e = decode(offset, value, problems);
  if (e) check_decoded(offset, *e, problems);
  return e.has_value();
}

void PartitionChainWalk::check_offset(int64_t offset, std::vector<ChainProblem>& problems) {
  ++events_checked_;
  // Kafka's transaction markers leave offsets no reader sees; the chain still links there.
  if (offset != expected_offset_ && dense_offsets_) {
    problems.push_back({ChainFault::missing_offsets, partition_, expected_offset_, "",
                        "no record at offsets " + std::to_string(expected_offset_) + ".." +
                            std::to_string(offset - 1) + " (next record is at " +
                            std::to_string(offset) + ")"});
  }
  expected_offset_ = offset + 1;
}

std::optional<EventEnvelope> PartitionChainWalk::decode(int64_t offset, std::string_view value,
                                                        std::vector<ChainProblem>& problems) {
  std::string error;
  auto e = decode_event(value, &error);
  if (!e) problems.push_back({ChainFault::undecodable, partition_, offset, "", error});
  return e;
}

void PartitionChainWalk::check_decoded(int64_t offset, const EventEnvelope& e,
                                       std::vector<ChainProblem>& problems) {
  const std::string id = e.id.value().str();
  const auto recomputed = sha256_->hex({event_hash_input(e)});
  check_link(offset, Link{id, e.stream, e.prev_hash, e.hash, e.sequence, e.partition}, recomputed,
             problems);
}

void PartitionChainWalk::check_link(int64_t offset, const Link& link,
                                    std::string_view recomputed_hash,
                                    std::vector<ChainProblem>& problems) {
  const bool at_checkpoint = checkpoint_ && events_checked_ == 1;
  auto problem = [&](ChainFault fault, std::string detail) {
    problems.push_back({fault, partition_, offset, std::string(link.id), std::move(detail)});
  };
  const std::string_view stored_hash = link.hash;
  if (at_checkpoint) {
    // The trusted hash replaces everything before it, so prev_hash is taken on trust.
    if (offset != checkpoint_->offset || stored_hash != checkpoint_->hash ||
        recomputed_hash != checkpoint_->hash)
      problem(ChainFault::checkpoint_mismatch,
              "the checkpoint trusts hash " + checkpoint_->hash + " at offset " +
                  std::to_string(checkpoint_->offset) + "; the event there hashes to " +
                  std::string(recomputed_hash));
  } else {
    if (link.prev_hash != prev_hash_)
      problem(ChainFault::prev_hash_mismatch,
              "prev_hash " + std::string(link.prev_hash) + " but the previous event's hash is " +
                  (prev_hash_.empty() ? "\"\" (start)" : prev_hash_));
    if (recomputed_hash != stored_hash)
      problem(ChainFault::hash_mismatch, "stored hash " + std::string(stored_hash) +
                                             " but the content hashes to " +
                                             std::string(recomputed_hash));
  }
  if (link.partition != partition_)
    problem(ChainFault::wrong_partition,
            "the event names partition " + std::to_string(link.partition));
  // Link the next event to the stored hash: an edited event is then reported once, where it
  // is, rather than again at its successor.
  prev_hash_.assign(stored_hash);
  auto seq = sequences_.find(link.stream);
  const bool first_seen = seq == sequences_.end();
  if (first_seen) seq = sequences_.emplace(std::string(link.stream), 0).first;
  if (!(first_seen && trust_first_sequence_) && link.sequence != seq->second + 1)
    problem(ChainFault::sequence_gap, "stream " + std::string(link.stream) + " sequence " +
                                          std::to_string(link.sequence) + " after " +
                                          std::to_string(seq->second));
  seq->second = link.sequence;
}

void read_partition(log::LogReader& reader, int32_t partition, int64_t from, int64_t end,
                    size_t batch_size,
                    const std::function<bool(const std::vector<log::Record>&)>& on_batch) {
  auto read = log::read_partition_range(
      reader, log::Topic::events, log::PartitionId{partition}, log::Offset{from}, log::Offset{end},
      batch_size, [&](std::vector<log::Record>& records) { return on_batch(records); });
  if (!read) throw std::runtime_error("cannot read the events log: " + read.error().message);
}

}  // namespace counsel::api
