#include "projections/checkpoints.hpp"

#include "projections/prepared_sql.hpp"

namespace counsel::projections {

namespace {
template <class Int>
std::string integer_array_literal(const std::vector<Int>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(values[i]);
  }
  return out + "}";
}
}  // namespace

std::string int_array_literal(const std::vector<int32_t>& values) {
  return integer_array_literal(values);
}

std::string int_array_literal(const std::vector<int64_t>& values) {
  return integer_array_literal(values);
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
// Every (projection, partition) asked for, at 0 (absent rows read as 0), then the rows found.
CheckpointMap checkpoint_map(const std::vector<std::string>& names,
                             const std::vector<int32_t>& partitions, const pqxx::result& rows) {
  CheckpointMap out;
  for (const auto& n : names) {
    auto& per_partition = out[n];
    for (int32_t p : partitions) per_partition[p] = 0;
  }
  for (const auto& row : rows) {
    out[row[0].as<std::string>()][row[1].as<int32_t>()] = row[2].as<int64_t>();
  }
  return out;
}

// projection -> partition -> `column` of projection.checkpoints; absent rows read as 0.
CheckpointMap load_column(pqxx::transaction_base& tx, const char* column,
                          const std::vector<std::string>& names,
                          const std::vector<int32_t>& partitions) {
  // Prepared (see prepared_sql.hpp): every projector batch and consistency wait runs it.
  auto rows =
      exec_prepared_sql(tx,
                        std::string("SELECT projection, partition, ") + column +
                            " FROM projection.checkpoints"
                            " WHERE projection = ANY($1::text[]) AND partition = ANY($2::int[])",
                        text_array_literal(names), int_array_literal(partitions));
  return checkpoint_map(names, partitions, rows);
}
}  // namespace

CheckpointMap load_checkpoints_for_update_after(pqxx::transaction_base& tx,
                                                const std::vector<std::string>& names,
                                                const std::vector<int32_t>& partitions,
                                                const std::string& first, int64_t first_arg) {
  // `first` is a gate of the scan (a one-time filter PostgreSQL evaluates before reading any
  // checkpoint row), so a lock it takes is held before the rows are read and locked.
  auto rows =
      exec_prepared_sql(tx,
                        "WITH first AS MATERIALIZED (" + first +
                            ")"
                            " SELECT projection, partition, next_offset FROM projection.checkpoints"
                            " WHERE projection = ANY($1::text[]) AND partition = ANY($2::int[])"
                            " AND (SELECT true FROM first)"
                            " ORDER BY projection, partition FOR UPDATE",
                        text_array_literal(names), int_array_literal(partitions), first_arg);
  return checkpoint_map(names, partitions, rows);
}

CheckpointMap load_checkpoints(pqxx::transaction_base& tx, const std::vector<std::string>& names,
                               const std::vector<int32_t>& partitions) {
  return load_column(tx, "next_offset", names, partitions);
}

CheckpointMap load_event_counts(pqxx::transaction_base& tx, const std::vector<std::string>& names,
                                const std::vector<int32_t>& partitions) {
  return load_column(tx, "events_applied", names, partitions);
}

bool advance_checkpoints(pqxx::transaction_base& tx, const std::vector<CheckpointAdvance>& moves,
                         bool rows_locked) {
  if (moves.empty()) return true;
  std::vector<std::string> names;
  std::vector<int32_t> partitions;
  std::vector<int64_t> expected, next, applied;
  for (const auto& m : moves) {
    names.push_back(m.projection);
    partitions.push_back(m.partition);
    expected.push_back(m.expected);
    next.push_back(m.next);
    applied.push_back(m.applied);
  }
  // The existing rows locked in key order first, as the one-row-at-a-time moves used to: two
  // projector owners overlapping at a handover then wait for each other instead of deadlocking.
  if (!rows_locked)
    exec_prepared_sql(tx,
                      "SELECT 1 FROM projection.checkpoints c"
                      " JOIN unnest($1::text[], $2::int[]) AS m(projection, partition)"
                      "  ON c.projection = m.projection AND c.partition = m.partition"
                      " ORDER BY c.projection, c.partition FOR UPDATE OF c",
                      text_array_literal(names), int_array_literal(partitions));
  // First moves (expected 0) may find no row yet; a concurrent first writer makes their WHERE
  // fail. The two halves touch different rows, so one statement can carry both.
  const auto r = exec_prepared_sql(
      tx,
      "WITH m AS (SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[],"
      "  $5::bigint[]) AS m(projection, partition, expected, next, applied)),"
      " first_moves AS ("
      "  INSERT INTO projection.checkpoints"
      "   (projection, partition, next_offset, events_applied, updated_at)"
      "  SELECT projection, partition, next, applied, now() FROM m WHERE expected = 0"
      "  ORDER BY projection, partition"
      "  ON CONFLICT (projection, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset,"
      "   events_applied = projection.checkpoints.events_applied + EXCLUDED.events_applied,"
      "   updated_at = now() WHERE projection.checkpoints.next_offset = 0"
      "  RETURNING 1),"
      " later_moves AS ("
      "  UPDATE projection.checkpoints c SET next_offset = m.next,"
      "   events_applied = c.events_applied + m.applied, updated_at = now()"
      "  FROM m WHERE m.expected <> 0 AND c.projection = m.projection"
      "   AND c.partition = m.partition AND c.next_offset = m.expected"
      "  RETURNING 1)"
      " SELECT (SELECT count(*) FROM first_moves) + (SELECT count(*) FROM later_moves)",
      text_array_literal(names), int_array_literal(partitions), int_array_literal(expected),
      int_array_literal(next), int_array_literal(applied));
  return r[0][0].as<int64_t>() == static_cast<int64_t>(moves.size());
}

void bump_read_model_versions(pqxx::transaction_base& tx,
                              const std::set<std::string>& projections) {
  if (projections.empty()) return;
  tx.exec_params0(
      "INSERT INTO projection.read_model_versions AS v (projection, version)"
      " SELECT name, 1 FROM unnest($1::text[]) AS n(name) ORDER BY name"
      " ON CONFLICT (projection) DO UPDATE SET version = v.version + 1",
      text_array_literal(std::vector<std::string>(projections.begin(), projections.end())));
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
