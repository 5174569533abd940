#pragma once
// The command processor: owns partitions of the commands topic through a consumer group,
// keeps one PartitionState per owned partition (rebuilt from the events log on assignment),
// and for each poll appends every partition's events + results + consumed positions in one
// atomic commit.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "commands/partition_state.hpp"
#include "infra/log/log.hpp"

namespace counsel::commands {

struct ProcessorOptions {
  std::string group = "command-processor";
  size_t max_batch = 256;
  std::chrono::milliseconds poll_wait{200};
  DedupeLimits dedupe;
  size_t rebuild_threads = 0;  // partitions rebuilt side by side on assignment; 0: per core, 2..8
  // Test hooks: "processor_crash_after_append" _Exits right after a commit with events;
  // "processor_commit_fails_once" fails the first commit without committing anything.
  std::string fault;
};

class ProcessorProbe;

class CommandProcessor : public log::RebalanceListener {
 public:
  CommandProcessor(log::Log& log, ProcessorOptions options);
  ~CommandProcessor() override;

  void start();  // runs the loop on its own thread
  void stop();
  // One poll + process step; used by tests and by the loop.
  void run_once();

  std::vector<log::PartitionId> owned_partitions() const;
  size_t total_streams() const;

  // Called on the processor's thread after each commit with the results it committed, in
  // commit order; set before start(). The api process this processor runs in answers its own
  // submitters with them (CommandBus::deliver_committed) instead of reading them back from the
  // log. Exceptions are logged: the commit stands whatever the listener does.
  std::function<void(const std::vector<CommittedResult>&)> on_results_committed;

  void on_assigned(std::vector<std::unique_ptr<log::PartitionLease>> leases) override;
  void on_revoked(const std::vector<log::PartitionId>& partitions) override;

 private:
  struct Owned {
    std::unique_ptr<log::PartitionLease> lease;
    std::unique_ptr<PartitionState> state;  // null after a failed commit until restored
  };
  // Drops a partition's state and goes back to its committed position (after a failed commit).
  void abandon(Owned& owned);
  // Rebuilds an abandoned partition's state from the events log (its reads already start at the
  // committed position); false (state left empty, retried at the next poll) if it cannot now.
  bool restore(Owned& owned);
  std::unique_ptr<PartitionState> rebuild_state(log::PartitionId p);
  size_t rebuild_threads() const;
  void report_state_locked();  // gauges of owned partitions and their state; owned_mutex_ held
  // One partition's decided commands, waiting for the poll's commit.
  struct Decided {
    Owned* owned;
    std::vector<log::OutRecord> out;
    std::vector<std::string> event_types;
    log::Offset consumed;
    std::vector<CommandResult> results;  // in the order of their records in `out`
  };
  Decided decide(Owned& owned, const std::vector<const log::Record*>& records);
  void commit_decided(std::vector<Decided>& decided);
  void hand_over_results(const std::vector<Decided>& decided,
                         const std::vector<std::vector<log::Position>>& positions);

  log::Log& log_;
  ProcessorOptions options_;
  std::unique_ptr<log::GroupConsumer> consumer_;
  std::map<int32_t, Owned> owned_;
  mutable std::mutex owned_mutex_;  // guards owned_ against readers of owned_partitions()
  std::unique_ptr<ProcessorProbe> probe_;
  std::atomic<bool> running_{false};
  bool commit_fault_pending_ = options_.fault == "processor_commit_fails_once";
  std::thread thread_;
};

}  // namespace counsel::commands
