#include "projections/checkpoints.hpp"

namespace counsel::projections {

std::string int_array_literal(const std::vector<int32_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(values[i]);
  }
  return out + "}";
}

std::string text_array_literal(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

namespace {
// projection -> partition -> `column` of projection.checkpoints; absent rows read as 0.
CheckpointMap load_column(pqxx::transaction_base& tx, const char* column,
                          const std::vector<std::string>& names,
                          const std::vector<int32_t>& partitions) {
  CheckpointMap out;
  for (const auto& n : names) {
    auto& per_partition = out[n];
    for (int32_t p : partitions) per_partition[p] = 0;
  }
  auto rows =
      tx.exec_params(std::string("SELECT projection, partition, ") + column +
                         " FROM projection.checkpoints"
                         " WHERE projection = ANY($1::text[]) AND partition = ANY($2::int[])",
                     text_array_literal(names), int_array_literal(partitions));
  for (const auto& row : rows) {
    out[row[0].as<std::string>()][row[1].as<int32_t>()] = row[2].as<int64_t>();
  }
  return out;
}
}  // namespace

CheckpointMap load_checkpoints(pqxx::transaction_base& tx, const std::vector<std::string>& names,
                               const std::vector<int32_t>& partitions) {
  return load_column(tx, "next_offset", names, partitions);
}

CheckpointMap load_event_counts(pqxx::transaction_base& tx, const std::vector<std::string>& names,
                                const std::vector<int32_t>& partitions) {
  return load_column(tx, "events_applied", names, partitions);
}

bool advance_checkpoint(pqxx::transaction_base& tx, const std::string& projection,
                        int32_t partition, int64_t expected, int64_t next, int64_t applied) {
  if (expected == 0) {
    // The row may not exist yet; a concurrent first writer makes the WHERE fail for us.
    auto r = tx.exec_params(
        "INSERT INTO projection.checkpoints"
        " (projection, partition, next_offset, events_applied, updated_at)"
        " VALUES ($1, $2, $3, $4, now())"
        " ON CONFLICT (projection, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset,"
        " events_applied = projection.checkpoints.events_applied + EXCLUDED.events_applied,"
        " updated_at = now() WHERE projection.checkpoints.next_offset = 0",
        projection, partition, next, applied);
    return r.affected_rows() == 1;
  }
  auto r = tx.exec_params(
      "UPDATE projection.checkpoints SET next_offset = $4, events_applied = events_applied + $5,"
      " updated_at = now() WHERE projection = $1 AND partition = $2 AND next_offset = $3",
      projection, partition, expected, next, applied);
  return r.affected_rows() == 1;
}

void store_checkpoint(pqxx::transaction_base& tx, const std::string& projection, int32_t partition,
                      int64_t next, int64_t events_applied) {
  tx.exec_params0(
      "INSERT INTO projection.checkpoints"
      " (projection, partition, next_offset, events_applied, updated_at)"
      " VALUES ($1, $2, $3, $4, now())"
      " ON CONFLICT (projection, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset,"
      " events_applied = EXCLUDED.events_applied, updated_at = now()",
      projection, partition, next, events_applied);
}

}  // namespace counsel::projections
