#include "projections/rebuild.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <stdexcept>

#include "infra/logging.hpp"
#include "projections/batch_apply.hpp"
#include "projections/checkpoints.hpp"
#include "projections/projection.hpp"

namespace counsel::projections {
namespace {

constexpr std::string_view kComponent = "rebuild";
constexpr std::chrono::milliseconds kDbTimeout{10000};

std::unique_ptr<Projection> projection_named(const std::string& name) {
  auto p = make_projection(name);
  if (!p) throw std::invalid_argument("unknown projection: " + name);
  return p;
}

// Hands the events of [from, to) of every partition to `sink` in chunks, one partition after the
// other (projections commute across partitions). `counts` (if given) receives the number of
// events read per partition.
void read_range(log::Log& log, const std::map<int32_t, int64_t>& from,
                const std::map<int32_t, int64_t>& to, size_t chunk,
                const std::function<void(std::vector<log::Record>&)>& sink,
                std::map<int32_t, int64_t>* counts = nullptr) {
  chunk = std::max<size_t>(chunk, 1);
  std::vector<log::Record> pending;
  for (const auto& [p, end] : to) {
    const int64_t begin = from.count(p) ? from.at(p) : 0;
    int64_t expected = begin;
    auto read = log::read_partition_range(
        log, log::Topic::events, log::PartitionId{p}, log::Offset{begin}, log::Offset{end}, chunk,
        [&](std::vector<log::Record>& records) {
          for (auto& r : records) {
            if (r.offset.value() != expected && log.dense_offsets()) {
              throw std::runtime_error("events log partition " + std::to_string(p) +
                                       " is not contiguous at offset " + std::to_string(expected));
            }
            expected = r.offset.value() + 1;
            if (counts) ++(*counts)[p];
            pending.push_back(std::move(r));
            if (pending.size() >= chunk) {
              sink(pending);
              pending.clear();
            }
          }
          return true;
        });
    if (!read) throw std::runtime_error("reading the events log failed: " + read.error().message);
  }
  if (!pending.empty()) sink(pending);
}

size_t apply_chunk(pqxx::work& tx, const Projection& projection,
                   const std::vector<log::Record>& records, FieldDecryptor& decryptor,
                   ApplyMode mode) {
  ApplyContext ctx{decryptor};
  auto outcome = apply_records(tx, {&projection}, records, {}, ctx, mode);
  for (const auto& q : outcome.quarantined) {
    logging::error(kComponent, "quarantined event: projection " + q.projection + " partition " +
                                   std::to_string(q.partition) + " offset " +
                                   std::to_string(q.offset) + ": " + q.error);
  }
  return outcome.quarantined.size();
}

void set_search_path(pqxx::work& tx, const std::string& schema) {
  tx.exec0("SET LOCAL search_path TO " + tx.quote_name(schema) + ", public");
}

}  // namespace

RebuildResult rebuild_into_schema(pg::PgPool& pool, log::Log& log, FieldDecryptor& decryptor,
                                  const std::string& name, const RebuildOptions& options) {
  const auto projection = projection_named(name);
  RebuildResult result;
  const auto stamp = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  result.schema = "rebuild_" + name + "_" + std::to_string(stamp);

  std::map<int32_t, int64_t> end;
  int64_t total = 0;
  for (int32_t p = 0; p < log.partition_count(); ++p) {
    auto e = log.end_offset(log::Topic::events, log::PartitionId{p});
    if (!e) throw std::runtime_error("reading the events log end failed: " + e.error().message);
    end[p] = e->value();
    total += e->value();
  }
  {
    auto lease = pool.acquire(kDbTimeout);
    pqxx::work tx(lease.connection());
    tx.exec0("CREATE SCHEMA " + tx.quote_name(result.schema));
    projection->create_tables(tx, result.schema);
    tx.commit();
  }
  logging::info(kComponent, "rebuilding " + name + " into " + result.schema + " from " +
                                std::to_string(total) + " events");

  const auto started = std::chrono::steady_clock::now();
  const size_t batch = std::max<size_t>(options.batch_size, 1);
  read_range(
      log, {}, end, batch,
      [&](std::vector<log::Record>& records) {
        auto lease = pool.acquire(kDbTimeout);
        for (ApplyMode mode : {ApplyMode::strict, ApplyMode::careful}) {
          pqxx::work tx(lease.connection());
          set_search_path(tx, result.schema);
          try {
            result.quarantined += apply_chunk(tx, *projection, records, decryptor, mode);
          } catch (const ApplyFailed&) {
            continue;
          }
          tx.commit();
          break;
        }
        result.events += static_cast<int64_t>(records.size());
        if (options.progress) {
          const double seconds =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
          options.progress({result.events, total, seconds > 0 ? result.events / seconds : 0.0});
        }
      },
      &result.counts);
  for (const auto& [p, offset] : end)
    result.reached.push_back({log::PartitionId{p}, log::Offset{offset}});
  return result;
}

RebuildResult rebuild_projection(pg::PgPool& pool, log::Log& log, FieldDecryptor& decryptor,
                                 const std::string& name, const RebuildOptions& options) {
  const auto projection = projection_named(name);
  RebuildResult result = rebuild_into_schema(pool, log, decryptor, name, options);
  const std::string built = result.schema;

  std::map<int32_t, int64_t> reached;
  std::vector<int32_t> partitions;
  for (const auto& pos : result.reached) {
    reached[pos.partition.value()] = pos.offset.value();
    partitions.push_back(pos.partition.value());
  }

  auto lease = pool.acquire(kDbTimeout);
  pqxx::work tx(lease.connection());
  // Exclusive: waits for in-flight projector batches; new ones wait for the swap.
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", kProjectionLockKey);
  const CheckpointMap live = load_checkpoints(tx, {name}, partitions);

  // The live projector may have committed events past what the rebuild read: apply those too,
  // so the swapped-in tables match the checkpoints they are stored with.
  std::map<int32_t, int64_t> live_end;
  std::map<int32_t, int64_t> final_checkpoint;
  for (int32_t p : partitions) {
    live_end[p] = live.at(name).at(p);
    final_checkpoint[p] = std::max(live_end[p], reached[p]);
  }
  set_search_path(tx, built);
  read_range(
      log, reached, live_end, options.batch_size,
      [&](std::vector<log::Record>& records) {
        result.quarantined += apply_chunk(tx, *projection, records, decryptor, ApplyMode::careful);
        result.events += static_cast<int64_t>(records.size());
      },
      &result.counts);

  for (const auto& table : projection->tables()) {
    tx.exec0("DROP TABLE IF EXISTS " + tx.quote_name(kReadSchema) + "." + tx.quote_name(table) +
             " CASCADE");
    tx.exec0("ALTER TABLE " + tx.quote_name(built) + "." + tx.quote_name(table) + " SET SCHEMA " +
             tx.quote_name(kReadSchema));
  }
  for (const auto& [p, next] : final_checkpoint) {
    auto counted = result.counts.find(p);
    store_checkpoint(tx, name, p, next, counted == result.counts.end() ? 0 : counted->second);
  }
  tx.exec0("DROP SCHEMA " + tx.quote_name(built) + " CASCADE");
  bump_read_model_versions(tx, {name});
  tx.exec0(std::string("NOTIFY ") + kProjectionChannel);
  tx.commit();

  result.schema = kReadSchema;
  result.reached.clear();
  for (const auto& [p, next] : final_checkpoint) {
    result.reached.push_back({log::PartitionId{p}, log::Offset{next}});
  }
  logging::info(kComponent, "swapped in rebuilt " + name + " (" + std::to_string(result.events) +
                                " events, " + std::to_string(result.quarantined) + " quarantined)");
  return result;
}

}  // namespace counsel::projections
