#pragma once
// Rebuilding projections from offset zero into a fresh schema, then swapping them in while the
// live projectors keep running.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "infra/log/log.hpp"
#include "infra/pg/connection_pool.hpp"
#include "projections/field_decryptor.hpp"

namespace counsel::projections {

struct RebuildProgress {
  int64_t events_done = 0;
  int64_t events_total = 0;
  double events_per_second = 0;
};
using RebuildProgressFn = std::function<void(const RebuildProgress&)>;

struct RebuildOptions {
  // Events per transaction. Larger batches mean fewer commits and key look-ups; a batch with a
  // poisoned event is applied twice (the second time with a savepoint per event).
  size_t batch_size = 20000;
  // Connections loading side by side (0: one per core); at most one per partition and per
  // spare pool connection, and one when no projection rebuilt has partition-local rows.
  int workers = 0;
  RebuildProgressFn progress;
};

struct RebuildResult {
  std::string schema;                  // where the tables were built ("read" after a swap)
  std::vector<log::Position> reached;  // per partition: next offset applied
  std::map<int32_t, int64_t> counts;   // per partition: events read up to `reached`
  int64_t events = 0;                  // events read from the log
  size_t quarantined = 0;
};

// Builds projection `name` from offset zero up to the log's current end offsets into a new
// schema rebuild_<name>_<n>, which is left in place (the caller drops it). Throws
// std::invalid_argument for an unknown name, and on database or log failures.
RebuildResult rebuild_into_schema(pg::PgPool& pool, log::Log& log, FieldDecryptor& decryptor,
                                  const std::string& name, const RebuildOptions& options = {});
// The same for several projections in one read of the log, all into one schema (their table
// names are distinct, as they are in `read`): rebuild_<name>_<n> for one, rebuild_all_<n> else.
RebuildResult rebuild_into_schema(pg::PgPool& pool, log::Log& log, FieldDecryptor& decryptor,
                                  const std::vector<std::string>& names,
                                  const RebuildOptions& options = {});

// rebuild_into_schema, then, in one transaction holding the projection lock exclusively
// (in-flight projector batches finish first, new ones wait): applies the events the live
// projector committed meanwhile, replaces the tables in `read`, sets the checkpoints, and
// drops the temporary schema.
RebuildResult rebuild_projection(pg::PgPool& pool, log::Log& log, FieldDecryptor& decryptor,
                                 const std::string& name, const RebuildOptions& options = {});
// The same for several projections: one read of the log, one swap.
RebuildResult rebuild_projections(pg::PgPool& pool, log::Log& log, FieldDecryptor& decryptor,
                                  const std::vector<std::string>& names,
                                  const RebuildOptions& options = {});

}  // namespace counsel::projections
