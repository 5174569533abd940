#pragma once
// Read-your-writes: has every read model applied the events at these log positions? The api
// waits (bounded) on this when a request carries a Consistency-Token.
#include <pqxx/pqxx>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infra/log/log.hpp"
#include "infra/pg/connection_pool.hpp"

namespace counsel::projections {

// True when, for each position (partition, offset of an appended event), every projection's
// checkpoint for that partition is past the offset.
bool read_models_reached(pqxx::connection& conn, const std::vector<log::Position>& positions);

// Waits up to `timeout`, woken by the runner's NOTIFY on counsel_projection after each
// commit (with a short poll as a fallback). False on timeout.
bool wait_until_reached(pg::PgPool& pool, const std::vector<log::Position>& positions,
                        std::chrono::milliseconds timeout);

}  // namespace counsel::projections

namespace counsel::projections {

// One per api process: it follows projector commits (on the process's pg::ListenHub) and keeps, per
// partition, how many events every projection has applied; waiting requests block on a
// condition variable instead of each holding a pooled connection for up to the whole wait
// (which starved the pool under load).
class ConsistencyWatcher {
 public:
  // `own_origin`: the payload this process's projector announces its commits with, when it
  // also calls reload_soon() after each (ProjectorRunner::announcement_origin). Those
  // announcements then wake nothing: the reload_soon() before them already led to a load that
  // sees their commit, and a second load per batch was a statement per booking at low rates.
  // Empty: every announcement leads to a load.
  explicit ConsistencyWatcher(std::string conninfo, std::string own_origin = {});
  ~ConsistencyWatcher();
  ConsistencyWatcher(const ConsistencyWatcher&) = delete;
  ConsistencyWatcher& operator=(const ConsistencyWatcher&) = delete;

  void start();
  void stop();
  // True once the read models include `positions` (event ordinals); false on timeout.
  bool wait(const std::vector<log::Position>& positions, std::chrono::milliseconds timeout);
  // projection.read_model_versions of `projection` as of the last load: it grows with every
  // commit that changed rows api processes cache (a projector batch, a rebuild swap), and once
  // wait() has returned true it includes every change up to those positions. nullopt while
  // not watching (nothing may be served from such a cache then).
  std::optional<uint64_t> version(std::string_view projection) const;
  // A projector of this process committed: load now rather than when its NOTIFY arrives.
  // Safe from any thread.
  void reload_soon();
  // How many times the checkpoints were loaded since start (each a statement).
  uint64_t loads() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace counsel::projections
