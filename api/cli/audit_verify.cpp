#include "api/cli/audit_verify.hpp"

#include <chrono>
#include <iomanip>
#include <stdexcept>

namespace counsel::api {

AuditVerifyReport verify_event_chains(log::Log& log, const std::vector<ChainCheckpoint>& trusted,
                                      std::ostream* progress) {
  AuditVerifyReport report;
  const auto started = std::chrono::steady_clock::now();
  std::vector<ChainProblem> problems;
  for (int32_t p = 0; p < log.partition_count(); ++p) {
    auto end = log.end_offset(log::Topic::events, log::PartitionId{p});
    if (!end) throw std::runtime_error("cannot read the events log: " + end.error().message);
    std::optional<ChainCheckpoint> checkpoint;
    for (auto& c : trusted)
      if (c.partition == p) checkpoint = c;
    PartitionChainWalk walk(p, log.dense_offsets(), checkpoint);
    PartitionVerification result;
    result.partition = p;
    result.from_offset = walk.start_offset();
    read_partition(log, p, walk.start_offset(), end->value(), 5000,
                   [&](const std::vector<log::Record>& batch) {
                     for (auto& rec : batch) {
                       problems.clear();
                       walk.check(rec.offset.value(), rec.value, problems);
                       result.problems += static_cast<int64_t>(problems.size());
                       if (!result.first_problem && !problems.empty())
                         result.first_problem = problems.front();
                     }
                     return true;
                   });
    // A checkpoint beyond the records the partition holds is itself a broken promise.
    if (checkpoint && walk.events_checked() == 0) {
      ++result.problems;
      result.first_problem = ChainProblem{ChainFault::checkpoint_mismatch, p, checkpoint->offset,
                                          "", "the partition has no event at the checkpoint"};
    }
    result.events = walk.events_checked();
    result.last_offset = walk.last_offset();
    result.last_hash = walk.last_hash();
    report.events += result.events;
    if (progress)
      *progress << "partition " << p << ": " << result.events << " events checked"
                << (result.problems ? ", BROKEN" : "") << "\n"
                << std::flush;
    report.partitions.push_back(std::move(result));
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
