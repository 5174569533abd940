// Bounded reads of one partition, shared by everything that replays a fixed range of the log
// (projection rebuilds, the processor's state rebuild, audit replay and verify). They must never
// stop short silently: a rebuild that ended at the first slow fetch would swap in read models
// missing events, and a processor rebuilt from part of its partition would decide on stale state.
#include <algorithm>

#include "infra/log/log.hpp"

namespace counsel::log {

Result<int64_t> read_partition_range(Log& log, Topic topic, PartitionId partition, Offset from,
                                     Offset end, size_t batch,
                                     const std::function<bool(std::vector<Record>&)>& sink,
                                     std::chrono::milliseconds stall_timeout) {
  if (from.value() >= end.value()) return int64_t{0};
  auto reader = log.reader();
  return read_partition_range(*reader, topic, partition, from, end, batch, sink, stall_timeout);
}

Result<int64_t> read_partition_range(LogReader& reader, Topic topic, PartitionId partition,
                                     Offset from, Offset end, size_t batch,
                                     const std::function<bool(std::vector<Record>&)>& sink,
                                     std::chrono::milliseconds stall_timeout) {
  if (from.value() >= end.value()) return int64_t{0};
  reader.assign(topic, {{partition, from}});
  batch = std::max<size_t>(batch, 1);
  int64_t handed = 0;
  int64_t next = from.value();
  auto last_progress = std::chrono::steady_clock::now();
  std::vector<Record> in_range;
  while (next < end.value()) {
    auto polled = reader.poll(batch, std::chrono::milliseconds(500));
    if (!polled) return unexpected(polled.error());
    in_range.clear();
    bool past_end = false;
    for (auto& record : *polled) {
      if (record.partition != partition || record.offset.value() < next) continue;
      // Records appended after the range was fixed are not part of it.
      if (record.offset.value() >= end.value()) {
        past_end = true;
        break;
      }
      next = record.offset.value() + 1;
      in_range.push_back(std::move(record));
    }
    if (!in_range.empty()) {
      last_progress = std::chrono::steady_clock::now();
      handed += static_cast<int64_t>(in_range.size());
      if (!sink(in_range)) return handed;
    }
    if (past_end) break;
    if (polled->empty()) {
      if (reader.at_end(partition)) break;
      if (std::chrono::steady_clock::now() - last_progress > stall_timeout) {
        return unexpected(LogError{"reading partition " + std::to_string(partition.value()) +
                                       " of " + std::string(topic_name(topic)) +
                                       " stalled at offset " + std::to_string(next) + " of " +
                                       std::to_string(end.value()),
                                   true, false});
      }
    }
  }
  return handed;
}

}  // namespace counsel::log
