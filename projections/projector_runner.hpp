#pragma once
// The live projector: a member of consumer group "projector" on the events topic. Each batch
// of events and the checkpoints it moves commit in one PostgreSQL transaction, so a projector
// that dies mid-batch leaves exactly what a rebuild up to its checkpoints would.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "infra/log/log.hpp"
#include "infra/pg/connection_pool.hpp"
#include "infra/pg/post_commit_notifier.hpp"
#include "projections/checkpoints.hpp"
#include "projections/projection.hpp"

namespace counsel::projections {

struct ProjectorOptions {
  std::string group = "projector";
  size_t batch_size = 500;
  std::chrono::milliseconds poll_wait{250};
  std::chrono::milliseconds db_timeout{5000};
  // Pause after a failed batch before trying again (database or log unreachable).
  std::chrono::milliseconds retry_delay{1000};
};

class ProjectorRunner final : private log::RebalanceListener {
 public:
  ProjectorRunner(pg::PgPool& pool, log::Log& log, FieldDecryptor& decryptor,
                  ProjectorOptions options = {});
  ~ProjectorRunner() override;
  ProjectorRunner(const ProjectorRunner&) = delete;
  ProjectorRunner& operator=(const ProjectorRunner&) = delete;

  // Runs batches on a thread of its own until stop(). Failed batches are logged and retried.
  void start();
  // Stops the thread and leaves the group (its partitions go to the other projectors).
  void stop();

  // One poll and at most one committed batch, on the caller's thread (tests; do not mix with
  // start()). Joins the group on first use. Returns the number of events committed.
  // Exceptions (including from on_applied) propagate; the batch is then rolled back and the
  // affected partitions are re-read from their checkpoints on the next call.
  size_t run_once(size_t max_events = 500,
                  std::chrono::milliseconds wait = std::chrono::milliseconds{100});

  // Per projection: sum over all partitions of (log end offset - checkpoint). Thread-safe.
  std::map<std::string, int64_t> lag();

  std::vector<log::PartitionId> owned_partitions() const;
  uint64_t events_committed() const { return events_committed_.load(); }
  uint64_t events_quarantined() const { return events_quarantined_.load(); }

  // Test hook: called after each event applied inside the current batch, before commit, with
  // the number applied so far. May throw to simulate a crash mid-batch.
  std::function<void(size_t applied)> on_applied;
  // Called on the runner's thread after each batch commits. Set before start().
  std::function<void()> on_committed;
  // The payload of the runner's counsel_projection announcements (ConsistencyWatcher's
  // own_origin). Set before start().
  std::string announcement_origin;
  // When set, projections return the rows they insert (ApplyContext::return_rows), and after
  // each commit, before on_committed, this gets them: tag -> results. On the runner's thread;
  // keep it short. Set before start().
  std::function<void(const std::map<std::string, std::vector<pqxx::result>>& returned)>
      on_rows_returned;

 private:
  void on_assigned(std::vector<std::unique_ptr<log::PartitionLease>> leases) override;
  void on_revoked(const std::vector<log::PartitionId>& partitions) override;

  void ensure_joined();
  void resync_stale_partitions();
  size_t commit_batch(const std::vector<log::Record>& records);
  void loop();

  pg::PgPool& pool_;
  log::Log& log_;
  FieldDecryptor& decryptor_;
  const ProjectorOptions options_;
  const bool crash_mid_batch_;  // COUNSEL_FAULT=projector_crash_mid_batch
  std::vector<std::unique_ptr<Projection>> projections_;
  std::vector<std::string> names_;
  std::shared_ptr<pg::PostCommitNotifier> notifier_;  // shared with this process's log

  std::unique_ptr<log::GroupConsumer> consumer_;  // set on the loop thread
  std::mutex consumer_mutex_;  // guards consumer_'s assignment against stop()'s interrupt
  mutable std::mutex owned_mutex_;
  std::map<int32_t, std::unique_ptr<log::PartitionLease>> leases_;
  // Partitions whose read position must be reset from the checkpoints before use.
  std::set<int32_t> stale_;
  // Next offset expected from the consumer per synced partition (min over projections).
  std::map<int32_t, int64_t> next_;

  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::atomic<uint64_t> events_committed_{0};
  std::atomic<uint64_t> events_quarantined_{0};
};

}  // namespace counsel::projections
