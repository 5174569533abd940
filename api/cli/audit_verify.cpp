#include "api/cli/audit_verify.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <iomanip>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace counsel::api {

namespace {

// Records per read: enough that the log's per-fetch cost is small against hashing them, few
// enough that each walking thread holds a few megabytes.
constexpr size_t kReadBatch = 5000;

PartitionVerification verify_partition(log::Log& log, log::LogReader& reader, int32_t partition,
                                       int64_t end,
                                       const std::optional<ChainCheckpoint>& checkpoint,
                                       const std::atomic<bool>& abandon) {
  PartitionChainWalk walk(partition, log.dense_offsets(), checkpoint);
  PartitionVerification result;
  result.partition = partition;
  result.from_offset = walk.start_offset();
  std::vector<ChainProblem> problems;
  read_partition(reader, partition, walk.start_offset(), end, kReadBatch,
                 [&](const std::vector<log::Record>& batch) {
                   for (auto& rec : batch) {
                     problems.clear();
                     walk.check_record(rec.offset.value(), rec.value, problems);
                     result.problems += static_cast<int64_t>(problems.size());
                     if (!result.first_problem && !problems.empty())
                       result.first_problem = problems.front();
                   }
                   return !abandon.load(std::memory_order_relaxed);
                 });
  // On a dense-offset engine every offset below the end holds a record: a partition that ends
  // early lost its last records (nothing after them links back to notice otherwise).
  if (log.dense_offsets() && !abandon.load(std::memory_order_relaxed) &&
      walk.last_offset() + 1 < end) {
    const int64_t missing_from = walk.last_offset() + 1;
    ++result.problems;
    if (!result.first_problem)
      result.first_problem = ChainProblem{
          ChainFault::missing_offsets, partition, missing_from, "",
          "no record at offsets " + std::to_string(missing_from) + ".." + std::to_string(end - 1) +
              " (the partition's end is " + std::to_string(end) + ")"};
  }
  // A checkpoint beyond the records the partition holds is itself a broken promise.
  if (checkpoint && walk.events_checked() == 0) {
    ++result.problems;
    result.first_problem =
        ChainProblem{ChainFault::checkpoint_mismatch, partition, checkpoint->offset, "",
                     "the partition has no event at the checkpoint"};
  }
  result.events = walk.events_checked();
  result.last_offset = walk.last_offset();
  result.last_hash = walk.last_hash();
  return result;
}

}  // namespace

AuditVerifyReport verify_event_chains(log::Log& log, const std::vector<ChainCheckpoint>& trusted,
                                      std::ostream* progress) {
  AuditVerifyReport report;
  const auto started = std::chrono::steady_clock::now();
  const int32_t partition_count = log.partition_count();
  // Each partition is walked up to the end it had here: what is appended meanwhile is not part
  // of this verification.
  std::vector<int64_t> ends;
  for (int32_t p = 0; p < partition_count; ++p) {
    auto end = log.end_offset(log::Topic::events, log::PartitionId{p});
    if (!end) throw std::runtime_error("cannot read the events log: " + end.error().message);
    ends.push_back(end->value());
  }

  // Partitions' chains are independent: walk several at once, each thread with its own reader.
  // The results (and the progress lines) still come in partition order.
  struct Outcome {
    std::optional<PartitionVerification> result;
    std::exception_ptr failure;
  };
  std::vector<Outcome> outcomes(static_cast<size_t>(partition_count));
  std::mutex mutex;
  std::condition_variable finished;
  std::atomic<int32_t> next_partition{0};
  std::atomic<bool> abandon{false};
  auto walk_partitions = [&] {
    // One reader per thread, kept across its partitions.
    std::unique_ptr<log::LogReader> reader;
    for (int32_t p = next_partition++; p < partition_count && !abandon; p = next_partition++) {
      Outcome outcome;
      try {
        std::optional<ChainCheckpoint> checkpoint;
        for (auto& c : trusted)
          if (c.partition == p) checkpoint = c;
        if (!reader) {
          reader = log.reader();
          // The walk reads each record's offset and value, nothing else.
          reader->read_offsets_and_values_only();
        }
        outcome.result =
            verify_partition(log, *reader, p, ends[static_cast<size_t>(p)], checkpoint, abandon);
      } catch (...) {
        outcome.failure = std::current_exception();
        abandon = true;
      }
      {
        std::lock_guard lock(mutex);
        outcomes[static_cast<size_t>(p)] = std::move(outcome);
      }
      finished.notify_all();
    }
  };
  const auto thread_count = std::clamp<int32_t>(
      static_cast<int32_t>(std::thread::hardware_concurrency()), 1, std::max(partition_count, 1));
  {
    std::vector<std::jthread> threads;
    for (int32_t i = 0; i < thread_count; ++i) threads.emplace_back(walk_partitions);
    for (size_t p = 0; p < outcomes.size(); ++p) {
      std::unique_lock lock(mutex);
      finished.wait(lock, [&] { return outcomes[p].result || abandon; });
      // After a failure the partitions still being walked stop short: report none of them.
      if (abandon) break;
      auto& result = *outcomes[p].result;
      if (progress)
        *progress << "partition " << result.partition << ": " << result.events << " events checked"
                  << (result.problems ? ", BROKEN" : "") << "\n"
                  << std::flush;
    }
  }  // joins the threads
  for (auto& outcome : outcomes)
    if (outcome.failure) std::rethrow_exception(outcome.failure);
  for (auto& outcome : outcomes) {
    report.events += outcome.result->events;
    report.partitions.push_back(std::move(*outcome.result));
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

int print_audit_verify_report(const AuditVerifyReport& report, std::ostream& out) {
  int64_t broken_partitions = 0;
  for (auto& p : report.partitions) {
    if (!p.first_problem) continue;
    ++broken_partitions;
    out << "BROKEN " << p.first_problem->describe() << " (" << p.problems
        << " problems in this partition)\n";
  }
  for (auto& p : report.partitions) {
    out << "partition " << p.partition << ": " << p.events << " events from offset "
        << p.from_offset;
    if (p.events > 0) out << ", head " << p.partition << ":" << p.last_offset << ":" << p.last_hash;
    out << (p.first_problem ? " BROKEN" : " ok") << "\n";
  }
  const double rate = report.seconds > 0 ? report.events / report.seconds : 0;
  out << "verified " << report.events << " events in " << report.partitions.size()
      << " partitions in " << std::fixed << std::setprecision(2) << report.seconds << " s ("
      << static_cast<int64_t>(rate) << " events/s): ";
  if (broken_partitions == 0) {
    out << "every hash chain is intact" << std::endl;
    return 0;
  }
  out << broken_partitions << " partition(s) broken" << std::endl;
  return 1;
}

}  // namespace counsel::api
