#pragma once
// projection.checkpoints: per (projection, partition) the next offset to apply. Written in the
// same transaction as the read-model rows they cover.
#include <pqxx/pqxx>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace counsel::projections {

// projection -> partition -> next offset. Absent rows read as 0.
using CheckpointMap = std::map<std::string, std::map<int32_t, int64_t>>;

CheckpointMap load_checkpoints(pqxx::transaction_base& tx, const std::vector<std::string>& names,
                               const std::vector<int32_t>& partitions);

// The same, locking the rows that exist in key order (as advance_checkpoints would), after
// `first` in the same statement (a round trip less for a batch that must, say, take a lock
// before it reads its checkpoints): `first` is a SELECT of one row that may use $3,
// `first_arg`, and runs before the checkpoint rows are scanned and locked. The statement's
// snapshot is older than a lock `first` waited for: rows changed meanwhile are read as they
// are now (FOR UPDATE), rows inserted meanwhile read as 0, which advance_checkpoints' check of
// the expected values then catches. A batch that starts with this can then advance without
// locking them again.
CheckpointMap load_checkpoints_for_update_after(pqxx::transaction_base& tx,
                                                const std::vector<std::string>& names,
                                                const std::vector<int32_t>& partitions,
                                                const std::string& first, int64_t first_arg);

// projection -> partition -> events applied so far (what consistency tokens compare).
CheckpointMap load_event_counts(pqxx::transaction_base& tx, const std::vector<std::string>& names,
                                const std::vector<int32_t>& partitions);

// Moves a checkpoint from `expected` to `next`, counting `applied` more events.
struct CheckpointAdvance {
  std::string projection;
  int32_t partition = 0;
  int64_t expected = 0;
  int64_t next = 0;
  int64_t applied = 0;
};

// Every move of a batch in one statement (a batch spanning 16 partitions and 7 projections would
// otherwise pay 112 round trips). False when any stored value is no longer its `expected`; the
// batch must then not commit.
// `rows_locked`: the transaction holds the rows already (load_checkpoints_for_update_after).
bool advance_checkpoints(pqxx::transaction_base& tx, const std::vector<CheckpointAdvance>& moves,
                         bool rows_locked = false);

// Bumps projection.read_model_versions of `projections` (in name order, so concurrent bumps
// cannot deadlock): cached query results of those read models are stale from this commit on.
void bump_read_model_versions(pqxx::transaction_base& tx, const std::set<std::string>& projections);

// Sets a checkpoint unconditionally (a rebuild swap, under the exclusive projection lock).
void store_checkpoint(pqxx::transaction_base& tx, const std::string& projection, int32_t partition,
                      int64_t next, int64_t events_applied);

// "{1,2,3}": libpqxx 6 has no array parameters.
std::string int_array_literal(const std::vector<int32_t>& values);
std::string int_array_literal(const std::vector<int64_t>& values);
std::string text_array_literal(const std::vector<std::string>& values);

}  // namespace counsel::projections
