#include "projections/projector_runner.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "infra/logging.hpp"
#include "infra/thread_name.hpp"
#include "projections/batch_apply.hpp"
#include "projections/read_queries.hpp"

namespace counsel::projections {
namespace {

constexpr std::string_view kComponent = "projector";

// A batch's first statement: see commit_batch.
const std::string kBatchStartSql =
    "SELECT pg_advisory_xact_lock_shared($3), set_config('search_path', 'read, public', true),"
    " set_config('synchronous_commit', 'off', true)";

bool fault_requested(const char* name) {
  const char* fault = std::getenv("COUNSEL_FAULT");
  return fault && std::strcmp(fault, name) == 0;
}

struct PartitionSpan {
  int64_t first = 0;
  int64_t last = 0;
};

}  // namespace

ProjectorRunner::ProjectorRunner(pg::PgPool& pool, log::Log& log, FieldDecryptor& decryptor,
                                 ProjectorOptions options)
    : pool_(pool),
      log_(log),
      decryptor_(decryptor),
      options_(std::move(options)),
      crash_mid_batch_(fault_requested("projector_crash_mid_batch")),
      projections_(all_projections()),
      notifier_(pg::PostCommitNotifier::shared_for(pool.conninfo())) {
  for (const auto& p : projections_) names_.emplace_back(p->name());
}

ProjectorRunner::~ProjectorRunner() {
  stop();
}

void ProjectorRunner::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    name_this_thread("projector");
    loop();
  });
}

void ProjectorRunner::stop() {
  stopping_ = true;
  {
    std::lock_guard lock(consumer_mutex_);
    if (consumer_) consumer_->interrupt();
  }
  if (thread_.joinable()) thread_.join();
  if (consumer_) {
    consumer_->close();
    std::lock_guard lock(consumer_mutex_);
    consumer_.reset();
  }
  std::lock_guard lock(owned_mutex_);
  leases_.clear();
  stale_.clear();
  next_.clear();
}

void ProjectorRunner::loop() {
  while (!stopping_) {
    try {
      run_once(options_.batch_size, options_.poll_wait);
    } catch (const std::exception& e) {
      logging::error(kComponent, std::string("batch failed, will retry: ") + e.what());
      auto until = std::chrono::steady_clock::now() + options_.retry_delay;
      while (!stopping_ && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
}

void ProjectorRunner::ensure_joined() {
  if (consumer_) return;
  {
    auto lease = pool_.acquire(options_.db_timeout);
    ensure_read_models(lease.connection());
  }
  // Not under consumer_mutex_: joining may call on_assigned, which takes owned_mutex_.
  auto consumer = log_.join_group(log::Topic::events, options_.group, *this);
  std::lock_guard lock(consumer_mutex_);
  consumer_ = std::move(consumer);
  if (stopping_) consumer_->interrupt();  // stop() found no consumer to interrupt
}

void ProjectorRunner::on_assigned(std::vector<std::unique_ptr<log::PartitionLease>> leases) {
  std::lock_guard lock(owned_mutex_);
  for (auto& lease : leases) {
    const int32_t p = lease->partition().value();
    stale_.insert(p);
    next_.erase(p);
    leases_[p] = std::move(lease);
  }
}

void ProjectorRunner::on_revoked(const std::vector<log::PartitionId>& partitions) {
  std::lock_guard lock(owned_mutex_);
  for (auto p : partitions) {
    leases_.erase(p.value());
    stale_.erase(p.value());
    next_.erase(p.value());
  }
}

std::vector<log::PartitionId> ProjectorRunner::owned_partitions() const {
  std::lock_guard lock(owned_mutex_);
  std::vector<log::PartitionId> out;
  for (const auto& [p, lease] : leases_) out.push_back(log::PartitionId{p});
  return out;
}

// A partition's read position comes from the checkpoints, never from the group's stored
// position: the checkpoints commit with the rows, the group position does not.
void ProjectorRunner::resync_stale_partitions() {
  std::vector<int32_t> partitions;
  {
    std::lock_guard lock(owned_mutex_);
    partitions.assign(stale_.begin(), stale_.end());
  }
  if (partitions.empty()) return;
  CheckpointMap checkpoints;
  {
    auto lease = pool_.acquire(options_.db_timeout);
    pqxx::read_transaction tx(lease.connection());
    checkpoints = load_checkpoints(tx, names_, partitions);
  }
  std::lock_guard lock(owned_mutex_);
  for (int32_t p : partitions) {
    int64_t from = INT64_MAX;
    for (const auto& n : names_) from = std::min(from, checkpoints[n][p]);
    consumer_->seek(log::PartitionId{p}, log::Offset{from});
    next_[p] = from;
    stale_.erase(p);
  }
}

size_t ProjectorRunner::run_once(size_t max_events, std::chrono::milliseconds wait) {
  ensure_joined();
  resync_stale_partitions();
  auto polled = consumer_->poll(max_events, wait);
  if (!polled) {
    throw std::runtime_error("polling the events log failed: " + polled.error().message);
  }
  // Keep only a contiguous run per synced partition; anything else is re-read after a seek.
  std::vector<log::Record> batch;
  {
    std::lock_guard lock(owned_mutex_);
    std::map<int32_t, int64_t> expected;
    for (auto& record : *polled) {
      const int32_t p = record.partition.value();
      if (stale_.count(p) || !next_.count(p)) continue;
      auto [it, inserted] = expected.try_emplace(p, next_[p]);
      if (record.offset.value() < it->second) continue;  // already applied
      // On an engine with dense offsets a gap means a skipped event: never apply past it.
      // (Kafka's transaction markers make gaps normal there.)
      if (record.offset.value() > it->second && log_.dense_offsets()) {
        stale_.insert(p);
        continue;
      }
      it->second = record.offset.value() + 1;
      batch.push_back(std::move(record));
    }
    if (!stale_.empty()) {
      // Drop what was accepted for partitions found stale later in the same poll.
      std::erase_if(batch, [&](const log::Record& r) { return stale_.count(r.partition.value()); });
    }
  }
  if (batch.empty()) return 0;
  try {
    return commit_batch(batch);
  } catch (...) {
    // The consumer already moved past this batch: re-read it from the checkpoints.
    std::lock_guard lock(owned_mutex_);
    for (const auto& r : batch) {
      if (leases_.count(r.partition.value())) stale_.insert(r.partition.value());
    }
    throw;
  }
}

size_t ProjectorRunner::commit_batch(const std::vector<log::Record>& records) {
  std::map<int32_t, PartitionSpan> spans;
  for (const auto& r : records) {
    auto [it, inserted] =
        spans.try_emplace(r.partition.value(), PartitionSpan{r.offset.value(), r.offset.value()});
    it->second.last = r.offset.value();
  }
  std::vector<int32_t> partitions;
  for (const auto& [p, span] : spans) partitions.push_back(p);

  std::vector<const Projection*> projections;
  for (const auto& p : projections_) projections.push_back(p.get());
  ApplyContext ctx{decryptor_};
  ctx.return_rows = static_cast<bool>(on_rows_returned);

  std::function<void(size_t)> after_each = [&](size_t applied) {
    if (crash_mid_batch_ && records.size() >= 2 && applied == records.size() / 2) {
      logging::error(kComponent, "fault injection: exiting mid-batch");
      std::_Exit(86);
    }
    if (on_applied) on_applied(applied);
  };

  for (ApplyMode mode : {ApplyMode::strict, ApplyMode::careful}) {
    auto lease = pool_.acquire(options_.db_timeout);
    pqxx::work tx(lease.connection());
    // One round trip for four things (a batch pays a round trip per statement):
    // - the projection lock, shared: batches of several projectors run side by side, and a
    //   rebuild swap waits for them; taken before the checkpoints are read;
    // - the read schema for this transaction only (SET LOCAL);
    // - a commit that does not wait for the WAL flush. Read models and checkpoints commit
    //   together and derive from events already flushed (the processor commits them
    //   synchronously), so a batch lost in a crash is a batch applied again from the
    //   checkpoint it left. The flush was on every booking's path, in the one serial stage;
    // - the batch's checkpoints, locked now rather than when they move (a statement less).
    const CheckpointMap checkpoints = load_checkpoints_for_update_after(
        tx, names_, partitions, kBatchStartSql, kProjectionLockKey);
    for (const auto& [p, span] : spans) {
      int64_t lowest = INT64_MAX;
      for (const auto& n : names_) lowest = std::min(lowest, checkpoints.at(n).at(p));
      if (lowest < span.first) {
        // A checkpoint behind what we read (another owner rolled back, a projection was
        // added): applying now would skip events. Re-read from the checkpoints.
        std::lock_guard lock(owned_mutex_);
        stale_.insert(p);
        return 0;
      }
    }
    BatchOutcome outcome;
    try {
      outcome = apply_records(tx, projections, records, checkpoints, ctx, mode, after_each);
    } catch (const ApplyFailed& e) {
      logging::warn(kComponent, std::string("batch has an event that cannot be applied, "
                                            "retrying event by event: ") +
                                    e.what());
      continue;  // tx rolls back; the careful pass quarantines the culprit
    }
    std::vector<CheckpointAdvance> moves;
    for (const auto& [p, span] : spans) {
      for (const auto& n : names_) {
        const int64_t current = checkpoints.at(n).at(p);
        const int64_t next = std::max(current, span.last + 1);
        if (next == current) continue;
        int64_t applied = 0;  // the events of this batch the projection had not seen yet
        for (const auto& r : records)
          if (r.partition.value() == p && r.offset.value() >= current) ++applied;
        moves.push_back({n, p, current, next, applied});
      }
    }
    if (!advance_checkpoints(tx, moves, /*rows_locked=*/true)) {
      // Fenced: someone else (a new owner, a rebuild swap) moved a checkpoint. Re-read every
      // partition of the batch from its checkpoints.
      logging::warn(kComponent,
                    "a checkpoint of this batch was moved by another writer; re-reading");
      std::lock_guard lock(owned_mutex_);
      for (const auto& [p, span] : spans) stale_.insert(p);
      return 0;
    }
    bump_read_model_versions(tx, ctx.changed);
    tx.commit();
    // Consistency waiters and the notification relays hear of the batch once it is visible.
    // A NOTIFY inside the transaction made its commit wait for PostgreSQL's database-wide
    // notify lock, behind every other notifying commit (pg::PostCommitNotifier). The batch is
    // committed: nothing here may fail it.
    // The rows first: a request that the notification or reload_soon() below lets go on finds
    // them. Their failure is theirs (the api then reads the rows): the announcements still go.
    try {
      if (on_rows_returned && !ctx.returned_rows.empty()) on_rows_returned(ctx.returned_rows);
    } catch (const std::exception& e) {
      logging::warn(kComponent, std::string("handing over a batch's rows failed: ") + e.what());
    }
    try {
      notifier_->notify(kProjectionChannel, {announcement_origin});
      for (const auto& [channel, payloads] : ctx.announcements)
        notifier_->notify(channel, payloads);
      if (on_committed) on_committed();
    } catch (const std::exception& e) {
      logging::warn(kComponent, std::string("announcing a committed batch failed: ") + e.what());
    }
    {
      std::lock_guard lock(owned_mutex_);
      for (const auto& [p, span] : spans) {
        if (next_.count(p)) next_[p] = span.last + 1;
      }
    }
    for (const auto& q : outcome.quarantined) {
      logging::error(kComponent, "quarantined event: projection " + q.projection + " partition " +
                                     std::to_string(q.partition) + " offset " +
                                     std::to_string(q.offset) + ": " + q.error);
    }
    events_committed_ += outcome.events;
    events_quarantined_ += outcome.quarantined.size();
    return outcome.events;
  }
  return 0;  // unreachable: the careful pass never throws ApplyFailed
}

std::map<std::string, int64_t> ProjectorRunner::lag() {
  const auto ends = log::end_positions(log_, log::Topic::events);
  if (!ends) throw std::runtime_error("reading the events log end failed: " + ends.error().message);
  auto lease = pool_.acquire(options_.db_timeout);
  return projection_lag(lease.connection(), *ends);
}

}  // namespace counsel::projections
