#include "infra/log/log.hpp"

namespace counsel::log {

Result<std::vector<Position>> end_positions(Log& log, Topic topic) {
  std::vector<Position> ends;
  ends.reserve(static_cast<size_t>(log.partition_count()));
  for (int32_t p = 0; p < log.partition_count(); ++p) {
    auto end = log.end_offset(topic, PartitionId{p});
    if (!end) return unexpected(end.error());
    ends.push_back({PartitionId{p}, *end});
  }
  return ends;
}

}  // namespace counsel::log
