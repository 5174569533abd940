#pragma once
// Applying a batch of event records to a set of projections inside one transaction: shared by
// the live runner and the rebuild, so both produce the same rows.
#include <pqxx/pqxx>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "infra/log/log.hpp"
#include "projections/checkpoints.hpp"
#include "projections/projection.hpp"

namespace counsel::projections {

struct QuarantineEntry {
  std::string projection;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string error;
};

// In strict mode, an event that cannot be applied aborts the batch with this; the caller
// rolls back and redoes the batch in careful mode (savepoint per apply). Batches are
// normally clean, so the common path pays for no savepoints.
class ApplyFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ApplyMode { strict, careful };

struct BatchOutcome {
  size_t events = 0;  // records looked at (applied, skipped as already applied, or quarantined)
  std::vector<QuarantineEntry> quarantined;
};

// Applies each record to every projection whose checkpoint in `from` for the record's
// partition is <= the record's offset (a projection already past it is left alone). In
// careful mode, a failing (record, projection) is rolled back to its savepoint and written to
// projection.quarantine. `after_each(n)` runs after the n-th record; what it throws propagates.
BatchOutcome apply_records(pqxx::work& tx, const std::vector<const Projection*>& projections,
                           const std::vector<log::Record>& records, const CheckpointMap& from,
                           ApplyContext& ctx, ApplyMode mode,
                           const std::function<void(size_t)>& after_each = {});

}  // namespace counsel::projections
