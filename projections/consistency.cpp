#include "projections/consistency.hpp"

#include <algorithm>
#include <map>

#include "projections/checkpoints.hpp"
#include "projections/projection.hpp"

namespace counsel::projections {
namespace {

class Wakeup final : public pqxx::notification_receiver {
 public:
  Wakeup(pqxx::connection_base& conn, const std::string& channel)
      : pqxx::notification_receiver(conn, channel) {}
  void operator()(const std::string&, int) override {}
};

}  // namespace

bool read_models_reached(pqxx::connection& conn, const std::vector<log::Position>& positions) {
  if (positions.empty()) return true;
  // Several events of one partition: only the highest ordinal matters.
  std::map<int32_t, int64_t> highest;
  for (const auto& p : positions) {
    auto [it, inserted] = highest.try_emplace(p.partition.value(), p.offset.value());
    it->second = std::max(it->second, p.offset.value());
  }
  static const std::vector<std::string> names = projection_names();
  std::vector<int32_t> partitions;
  for (const auto& [p, o] : highest) partitions.push_back(p);
  pqxx::read_transaction tx(conn);
  // Positions are event ordinals per partition (see commands::PartitionState), compared with
  // the number of events each projection has applied: equal to offsets on postgres, and
  // still right on Kafka, whose transaction markers take offsets of their own.
  const CheckpointMap checkpoints = load_event_counts(tx, names, partitions);
  for (const auto& [name, per_partition] : checkpoints) {
    for (const auto& [p, o] : highest) {
      if (per_partition.at(p) <= o) return false;
    }
  }
  return true;
}

bool wait_until_reached(pg::PgPool& pool, const std::vector<log::Position>& positions,
                        std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  if (positions.empty()) return true;
  const auto deadline = clock::now() + timeout;
  auto lease = pool.acquire(timeout);
  auto& conn = lease.connection();
  if (read_models_reached(conn, positions)) return true;
  // LISTEN before the re-check, so a commit in between still wakes us.
  Wakeup wakeup(conn, kProjectionChannel);
  while (true) {
    if (read_models_reached(conn, positions)) return true;
    const auto left =
        std::chrono::duration_cast<std::chrono::microseconds>(deadline - clock::now());
    if (left.count() <= 0) return false;
    const auto nap = std::min<std::chrono::microseconds>(left, std::chrono::milliseconds(50));
    conn.await_notification(0, static_cast<long>(nap.count()));
  }
}

}  // namespace counsel::projections
