#pragma once
// The postgres log engine: the log port on tables in the `log` schema (infra/pg/migrations/
// 001_log.sql). log.records is partitioned into one table per (topic, partition),
// log.records_t<topic>_p<partition> (011_log_records_by_partition.sql; created when the log is
// first opened), so a partition's records lie together for range reads. Offsets come from
// log.heads under its row lock (dense, visible in order);
// partition ownership is a session advisory lock per (group, partition) plus an owner epoch in
// log.partition_owners that every lease commit checks in its own transaction (fencing);
// LISTEN/NOTIFY on channel `counsel_log` (payload "<topic>:<partition>:<end>") wakes readers
// in other processes, and AppendWatch those of this one.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "infra/log/append_announcer.hpp"
#include "infra/log/append_watch.hpp"
#include "infra/log/log.hpp"
#include "infra/pg/connection_pool.hpp"

namespace counsel::log {

struct PostgresLogOptions {
  size_t pool_size = 4;  // connections for append/commit/end_offset/ping
  std::chrono::milliseconds acquire_timeout{5000};
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds member_timeout{5000};   // heartbeat older than this: member is gone
  std::chrono::milliseconds acquire_interval{200};  // retry for partitions while below share
};

class PostgresLog : public Log {
 public:
  // Expects the migrations to be applied. Records partition_count in log.settings on first
  // start and creates the records table of every (topic, partition) missing; throws
  // std::runtime_error if the database was set up with a different count (keys would move to other
  // partitions) and pg::PgUnavailable if PostgreSQL cannot be reached. `member` names this process
  // in consumer groups (each consumer adds a unique suffix).
  PostgresLog(std::string conninfo, int partition_count, std::string member,
              PostgresLogOptions options = {});
  ~PostgresLog() override;

  int partition_count() const override { return partition_count_; }
  Result<std::vector<Position>> append(const std::vector<OutRecord>& records) override;
  // Whether an append of `records` commits without waiting for its WAL flush: only when every
  // record is durable_with_outcome (a command whose sender waits for its result). What makes
  // such a command count is its decision, which the processor commits synchronously after
  // reading it, and a flush of the WAL reaches every record written before, this one too. A
  // command lost in a crash was never decided, and its sender, answered nothing, retries it
  // under the same id. Commands nobody waits for (the access recorder's) and events stay
  // synchronous.
  static bool deferred_flush(const std::vector<OutRecord>& records);
  // Appends that PostgreSQL committed without waiting for the flush (for tests and probes).
  uint64_t deferred_flush_appends() const {
    return deferred_flush_appends_.load(std::memory_order_relaxed);
  }
  Result<Offset> end_offset(Topic topic, PartitionId partition) override;
  std::unique_ptr<LogReader> reader() override;
  std::unique_ptr<GroupConsumer> join_group(Topic topic, const std::string& group,
                                            RebalanceListener& listener) override;
  Result<bool> ping() override;
  std::string engine_name() const override { return "postgres"; }

  // Internals shared with readers, consumers and leases.
  const std::string& conninfo() const { return conninfo_; }
  const std::string& member() const { return member_; }
  const PostgresLogOptions& options() const { return options_; }
  pg::PgPool& pool() { return pool_; }
  AppendWatch& watch() { return *watch_; }
  // Wakes readers of the partitions these committed records went to: this process's at once
  // (AppendWatch), the others' by NOTIFY (AppendAnnouncer).
  void announce_appended(const std::vector<const OutRecord*>& records,
                         const std::vector<Position>& positions) noexcept;

 private:
  const std::string conninfo_;
  const int partition_count_;
  const std::string member_;
  const PostgresLogOptions options_;
  pg::PgPool pool_;
  std::unique_ptr<AppendAnnouncer> announcer_;
  std::unique_ptr<AppendWatch> watch_;
  std::atomic<uint64_t> deferred_flush_appends_{0};
};

std::unique_ptr<PostgresLog> make_postgres_log(const std::string& conninfo, int partition_count,
                                               const std::string& member,
                                               PostgresLogOptions options = {});

}  // namespace counsel::log
