#include "projections/rebuild.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

#include "infra/logging.hpp"
#include "projections/batch_apply.hpp"
#include "projections/checkpoints.hpp"
#include "projections/projection.hpp"

namespace counsel::projections {
namespace {

constexpr std::string_view kComponent = "rebuild";
constexpr std::chrono::milliseconds kDbTimeout{10000};

std::vector<std::unique_ptr<Projection>> projections_named(const std::vector<std::string>& names) {
  if (names.empty()) throw std::invalid_argument("no projection to rebuild");
  std::vector<std::unique_ptr<Projection>> out;
  for (const auto& name : names) {
    auto p = make_projection(name);
    if (!p) throw std::invalid_argument("unknown projection: " + name);
    if (std::any_of(out.begin(), out.end(), [&](const auto& q) { return q->name() == name; }))
      throw std::invalid_argument("projection named twice: " + name);
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<const Projection*> pointers(const std::vector<std::unique_ptr<Projection>>& ps) {
  std::vector<const Projection*> out;
  for (const auto& p : ps) out.push_back(p.get());
  return out;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ',';
    out += n;
  }
  return out;
}

// Hands the events of [from, to) of every partition to `sink` in chunks, one partition after the
// other (projections commute across partitions). `counts` (if given) receives the number of
// events read per partition. A thread reads the next chunk while `sink` applies this one: a
// load waits on round trips to PostgreSQL, and reading meanwhile takes the log off its path.
// At most two chunks are held besides the one being filled.
void read_range(log::Log& log, const std::map<int32_t, int64_t>& from,
                const std::map<int32_t, int64_t>& to, size_t chunk,
                const std::function<void(std::vector<log::Record>&)>& sink,
                std::map<int32_t, int64_t>* counts = nullptr) {
  chunk = std::max<size_t>(chunk, 1);
  std::mutex mutex;
  std::condition_variable changed;
  std::optional<std::vector<log::Record>> ready;  // the one chunk handed over, not yet taken
  bool read_all = false;
  bool stop = false;  // the sink failed: the reader quits at its next chunk
  std::exception_ptr read_failure;
  // Hands a full chunk over; false once the consumer has stopped.
  auto hand_over = [&](std::vector<log::Record>&& records) {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return !ready || stop; });
    if (stop) return false;
    ready = std::move(records);
    changed.notify_all();
    return true;
  };
  std::jthread reader_thread([&] {
    try {
      std::vector<log::Record> pending;
      auto reader = log.reader();
      bool going = true;
      for (auto it = to.begin(); going && it != to.end(); ++it) {
        const auto& [p, end] = *it;
        const int64_t begin = from.count(p) ? from.at(p) : 0;
        int64_t expected = begin;
        auto read = log::read_partition_range(
            *reader, log::Topic::events, log::PartitionId{p}, log::Offset{begin}, log::Offset{end},
            chunk, [&](std::vector<log::Record>& records) {
              for (auto& r : records) {
                if (r.offset.value() != expected && log.dense_offsets()) {
                  throw std::runtime_error("events log partition " + std::to_string(p) +
                                           " is not contiguous at offset " +
                                           std::to_string(expected));
                }
                expected = r.offset.value() + 1;
                if (counts) ++(*counts)[p];
                pending.push_back(std::move(r));
                if (pending.size() >= chunk) {
                  going = hand_over(std::move(pending));
                  pending.clear();
                  if (!going) return false;
                }
              }
              return true;
            });
        if (!read)
          throw std::runtime_error("reading the events log failed: " + read.error().message);
      }
      if (going && !pending.empty()) hand_over(std::move(pending));
    } catch (...) {
      read_failure = std::current_exception();
    }
    std::lock_guard lock(mutex);
    read_all = true;
    changed.notify_all();
  });
  while (true) {
    std::vector<log::Record> records;
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return ready || read_all; });
      if (!ready) break;
      records = std::move(*ready);
      ready.reset();
      changed.notify_all();
    }
    try {
      sink(records);
    } catch (...) {
      {
        std::lock_guard lock(mutex);
        stop = true;
        changed.notify_all();
      }
      reader_thread.join();
      throw;
    }
  }
  reader_thread.join();
  if (read_failure) std::rethrow_exception(read_failure);
}

size_t apply_chunk(pqxx::work& tx, const std::vector<const Projection*>& projections,
                   const std::vector<log::Record>& records, FieldDecryptor& decryptor,
                   ApplyMode mode, const CheckpointMap& from = {}) {
  ApplyContext ctx{decryptor};
  auto outcome = apply_records(tx, projections, records, from, ctx, mode);
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

// Attempts at one shadow batch that conflicts with another worker's (a deadlock).
constexpr int kBatchAttempts = 5;

// Whether `r` is an account.erased event (a cheap look before the decode).
bool is_erasure(const log::Record& r) {
  if (r.value.find("\"account.erased\"") == std::string::npos) return false;
  auto e = decode_event(r.value, nullptr);
  return e && e->type == "account.erased";
}

// Applies one batch of the initial load into the shadow schema in its own transaction: strict
// first, event by event with savepoints if an event fails; (projection, partition) pairs in
// `skip` are left alone. Returns the events quarantined.
size_t apply_shadow_batch(pqxx::connection& connection, const std::string& schema,
                          const std::vector<const Projection*>& projections,
                          const std::vector<log::Record>& records, FieldDecryptor& decryptor,
                          const CheckpointMap& skip) {
  for (ApplyMode mode : {ApplyMode::strict, ApplyMode::careful}) {
    pqxx::work tx(connection);
    set_search_path(tx, schema);
    // Nothing reads the shadow schema before the swap, and a crash leaves a schema that is
    // thrown away, so its batches need not wait for the WAL flush. The swap commits
    // synchronously, and WAL is flushed in order: every batch is durable once it is.
    tx.exec0("SET LOCAL synchronous_commit = off");
    size_t quarantined = 0;
    try {
      quarantined = apply_chunk(tx, projections, records, decryptor, mode, skip);
    } catch (const ApplyFailed&) {
      continue;
    }
    tx.commit();
    return quarantined;
  }
  return 0;  // unreachable: the careful pass never throws ApplyFailed
}

// Drops the indexes of `schema` that the projections declare only the read queries use and
// returns their definitions. Maintaining them row by row during the bulk load costs far more
// than building each once at the end (a sorted build), and what the tables hold does not depend
// on them. Unique indexes and those backing constraints are never dropped, whatever is declared.
std::vector<std::string> detach_query_only_indexes(
    pqxx::work& tx, const std::string& schema, const std::vector<const Projection*>& projections) {
  std::set<std::string> declared;
  for (const auto* p : projections)
    for (auto& name : p->query_only_indexes()) declared.insert(std::move(name));
  const auto rows = tx.exec_params(
      "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index x"
      " JOIN pg_class c ON c.oid = x.indexrelid"
      " JOIN pg_namespace n ON n.oid = c.relnamespace"
      " WHERE n.nspname = $1 AND NOT x.indisunique AND NOT x.indisprimary"
      " AND NOT x.indisexclusion"
      " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)"
      " ORDER BY c.relname",
      schema);
  std::vector<std::string> definitions;
  for (const auto& row : rows) {
    const std::string name = row[0].c_str();
    if (!declared.contains(name)) continue;
    tx.exec0("DROP INDEX " + tx.quote_name(schema) + "." + tx.quote_name(name));
    definitions.emplace_back(row[1].c_str());  // schema-qualified by pg_get_indexdef
  }
  return definitions;
}

}  // namespace

RebuildResult rebuild_into_schema(pg::PgPool& pool, log::Log& log, FieldDecryptor& decryptor,
                                  const std::vector<std::string>& names,
                                  const RebuildOptions& options) {
  const auto owned = projections_named(names);
  const auto projections = pointers(owned);
  RebuildResult result;
  const auto stamp = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  // Schema names are limited to 63 bytes: several projections share a generic name.
  result.schema = "rebuild_" + (names.size() == 1 ? names.front() : std::string("all")) + "_" +
                  std::to_string(stamp);

  std::map<int32_t, int64_t> end;
  int64_t total = 0;
  for (int32_t p = 0; p < log.partition_count(); ++p) {
    auto e = log.end_offset(log::Topic::events, log::PartitionId{p});
    if (!e) throw std::runtime_error("reading the events log end failed: " + e.error().message);
    end[p] = e->value();
    total += e->value();
  }
  std::vector<std::string> deferred_indexes;
  {
    auto lease = pool.acquire(kDbTimeout);
    pqxx::work tx(lease.connection());
    tx.exec0("CREATE SCHEMA " + tx.quote_name(result.schema));
    for (const auto* p : projections) p->create_tables(tx, result.schema);
    deferred_indexes = detach_query_only_indexes(tx, result.schema, projections);
    tx.commit();
  }
  logging::info(kComponent, "rebuilding " + joined(names) + " into " + result.schema + " from " +
                                std::to_string(total) + " events");

  const auto started = std::chrono::steady_clock::now();
  const size_t batch = std::max<size_t>(options.batch_size, 1);
  // Workers load side by side, each with its own connection and transactions. One connection
  // alone spends most of its time waiting for round trips (each statement waits for its
  // answer), leaving the cores idle. Projections commute across partitions, so those whose
  // rows are partition-local are split by partition among all workers; the others go whole
  // to worker 0 (two connections writing their rows would wait for, and deadlock on, each
  // other). A deadlock that happens anyway (an erasure's updates) retries the batch. Each
  // worker holds a pooled connection for the whole load, and the subject keyring borrows from
  // the same pool: at most one worker per spare connection.
  bool any_local = false;
  for (const auto* p : projections) any_local = any_local || p->rows_are_partition_local();
  const int worker_count =
      any_local ? std::clamp<int>(
                      options.workers > 0
                          ? options.workers
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())),
                      1,
                      std::max<int>(1, std::min(static_cast<int>(end.size()),
                                                static_cast<int>(pool.size()) - 1)))
                : 1;
  struct Share {
    std::map<int32_t, int64_t> to;  // the partitions it reads
    CheckpointMap skip;             // (projection, partition) pairs it leaves to another worker
    std::set<int32_t> counted;      // the partitions whose events it counts as loaded
  };
  std::vector<Share> shares(static_cast<size_t>(worker_count));
  {
    int i = 0;
    for (const auto& [p, e] : end) {
      const size_t local_worker = static_cast<size_t>(i++ % worker_count);
      for (size_t w = 0; w < shares.size(); ++w) {
        auto& share = shares[w];
        bool reads = false;
        for (const auto* projection : projections) {
          const bool mine = projection->rows_are_partition_local() ? w == local_worker : w == 0;
          if (mine)
            reads = true;
          else
            share.skip[std::string(projection->name())][p] = INT64_MAX;
        }
        if (reads) share.to[p] = e;
        if (w == local_worker) share.counted.insert(p);
      }
    }
  }
  std::mutex progress_mutex;
  std::atomic<bool> abandon{false};
  struct Abandoned {};
  // Every account.erased read, applied once more after the load (below).
  std::vector<log::Record> erasures;
  std::vector<std::map<int32_t, int64_t>> counts(shares.size());
  std::vector<std::exception_ptr> failures(shares.size());
  auto work = [&](size_t w) {
    try {
      // One connection per worker for the whole load: its prepared statements are prepared once.
      auto lease = pool.acquire(kDbTimeout);
      read_range(
          log, {}, shares[w].to, batch,
          [&](std::vector<log::Record>& records) {
            if (abandon) throw Abandoned{};
            size_t quarantined = 0;
            for (int attempt = 1;; ++attempt) {
              try {
                quarantined = apply_shadow_batch(lease.connection(), result.schema, projections,
                                                 records, decryptor, shares[w].skip);
                break;
              } catch (const pqxx::transaction_rollback& e) {
                if (attempt >= kBatchAttempts) throw;
                logging::warn(kComponent, std::string("batch rolled back by a conflict with "
                                                      "another worker, retrying: ") +
                                              e.what());
                // Apart in time, so that the two do not collide again at once.
                std::this_thread::sleep_for(std::chrono::milliseconds(50 * attempt * (w + 1)));
              }
            }
            std::lock_guard lock(progress_mutex);
            for (const auto& r : records)
              if (shares[w].counted.contains(r.partition.value()) && is_erasure(r))
                erasures.push_back(r);
            result.quarantined += quarantined;
            for (const auto& r : records)
              if (shares[w].counted.contains(r.partition.value())) ++result.events;
            if (options.progress) {
              const double seconds =
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
              options.progress({result.events, total, seconds > 0 ? result.events / seconds : 0.0});
            }
          },
          &counts[w]);
    } catch (const Abandoned&) {
    } catch (...) {
      failures[w] = std::current_exception();
      abandon = true;
    }
  };
  {
    std::vector<std::jthread> workers;
    try {
      for (size_t w = 1; w < shares.size(); ++w) workers.emplace_back(work, w);
    } catch (...) {
      abandon = true;  // the workers already started stop at their next batch
      throw;
    }
    work(0);
  }  // joins the workers
  for (auto& failure : failures)
    if (failure) std::rethrow_exception(failure);
  // Every worker that read a partition read all of it.
  for (const auto& per_worker : counts)
    for (const auto& [p, n] : per_worker) result.counts[p] = std::max(result.counts[p], n);
  auto lease = pool.acquire(kDbTimeout);
  // An erasure updates rows that events of other partitions wrote (a client's sessions, their
  // patient records, their reviews). Whether those rows existed when it was applied depended on
  // which partition was loaded first, or, with several workers, on whether the other worker had
  // committed them yet. Applied again now over everything loaded, each erasure reaches them
  // all; erasure handlers are idempotent.
  if (!erasures.empty()) {
    std::sort(erasures.begin(), erasures.end(), [](const log::Record& a, const log::Record& b) {
      return std::pair(a.partition.value(), a.offset.value()) <
             std::pair(b.partition.value(), b.offset.value());
    });
    result.quarantined +=
        apply_shadow_batch(lease.connection(), result.schema, projections, erasures, decryptor, {});
  }
  if (!deferred_indexes.empty()) {
    pqxx::work tx(lease.connection());
    // Sorts for the index builds in memory rather than in temporary files.
    tx.exec0("SET LOCAL maintenance_work_mem = '256MB'");
    for (const auto& definition : deferred_indexes) tx.exec0(definition);
    tx.commit();
  }
  for (const auto& [p, offset] : end)
    result.reached.push_back({log::PartitionId{p}, log::Offset{offset}});
  return result;
}

RebuildResult rebuild_into_schema(pg::PgPool& pool, log::Log& log, FieldDecryptor& decryptor,
                                  const std::string& name, const RebuildOptions& options) {
  return rebuild_into_schema(pool, log, decryptor, std::vector<std::string>{name}, options);
}

RebuildResult rebuild_projections(pg::PgPool& pool, log::Log& log, FieldDecryptor& decryptor,
                                  const std::vector<std::string>& names,
                                  const RebuildOptions& options) {
  const auto owned = projections_named(names);
  const auto projections = pointers(owned);
  RebuildResult result = rebuild_into_schema(pool, log, decryptor, names, options);
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
  const CheckpointMap live = load_checkpoints(tx, names, partitions);

  // The live projectors may have committed events past what the rebuild read: apply those too,
  // so the swapped-in tables match the checkpoints they are stored with. With several
  // projections, each catches up to the furthest live checkpoint of the partition: events past a
  // projection's own checkpoint are ones its live projector has yet to apply, and will skip
  // once the checkpoint stored here is past them.
  std::map<int32_t, int64_t> live_end;
  std::map<int32_t, int64_t> final_checkpoint;
  for (int32_t p : partitions) {
    int64_t furthest = 0;
    for (const auto& name : names) furthest = std::max(furthest, live.at(name).at(p));
    live_end[p] = furthest;
    final_checkpoint[p] = std::max(live_end[p], reached[p]);
  }
  set_search_path(tx, built);
  read_range(
      log, reached, live_end, options.batch_size,
      [&](std::vector<log::Record>& records) {
        result.quarantined += apply_chunk(tx, projections, records, decryptor, ApplyMode::careful);
        result.events += static_cast<int64_t>(records.size());
      },
      &result.counts);

  for (const auto* projection : projections) {
    for (const auto& table : projection->tables()) {
      tx.exec0("DROP TABLE IF EXISTS " + tx.quote_name(kReadSchema) + "." + tx.quote_name(table) +
               " CASCADE");
      tx.exec0("ALTER TABLE " + tx.quote_name(built) + "." + tx.quote_name(table) + " SET SCHEMA " +
               tx.quote_name(kReadSchema));
    }
  }
  for (const auto& name : names) {
    for (const auto& [p, next] : final_checkpoint) {
      auto counted = result.counts.find(p);
      store_checkpoint(tx, name, p, next, counted == result.counts.end() ? 0 : counted->second);
    }
  }
  tx.exec0("DROP SCHEMA " + tx.quote_name(built) + " CASCADE");
  bump_read_model_versions(tx, std::set<std::string>(names.begin(), names.end()));
  tx.exec0(std::string("NOTIFY ") + kProjectionChannel);
  tx.commit();

  result.schema = kReadSchema;
  result.reached.clear();
  for (const auto& [p, next] : final_checkpoint) {
    result.reached.push_back({log::PartitionId{p}, log::Offset{next}});
  }
  logging::info(kComponent, "swapped in rebuilt " + joined(names) + " (" +
                                std::to_string(result.events) + " events, " +
                                std::to_string(result.quarantined) + " quarantined)");
  return result;
}

RebuildResult rebuild_projection(pg::PgPool& pool, log::Log& log, FieldDecryptor& decryptor,
                                 const std::string& name, const RebuildOptions& options) {
  return rebuild_projections(pool, log, decryptor, std::vector<std::string>{name}, options);
}

}  // namespace counsel::projections
