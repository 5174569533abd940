#pragma once
// `counsel audit verify`: walks every partition's hash chain from offset 0 (or from a trusted
// checkpoint) and reports the first broken link of each partition.
#include <ostream>
#include <vector>

#include "api/cli/event_chain.hpp"
#include "infra/log/log.hpp"

namespace counsel::api {

struct PartitionVerification {
  int32_t partition = 0;
  int64_t from_offset = 0;
  int64_t events = 0;
  int64_t problems = 0;
  std::optional<ChainProblem> first_problem;
  // The last event's position and hash: pass as --from-checkpoint P:O:HASH next time.
  int64_t last_offset = -1;
  std::string last_hash;
};

struct AuditVerifyReport {
  std::vector<PartitionVerification> partitions;
  int64_t events = 0;
  double seconds = 0;
  bool intact() const {
    for (auto& p : partitions)
      if (p.problems > 0) return false;
    return true;
  }
};

// At most one checkpoint per partition (the caller checks). `progress` gets a status line
// per partition when set (a terminal).
AuditVerifyReport verify_event_chains(log::Log& log, const std::vector<ChainCheckpoint>& trusted,
                                      std::ostream* progress);

// Prints the report: the first broken link per partition, then a summary. Returns the exit
// status: 0 intact, 1 broken.
int print_audit_verify_report(const AuditVerifyReport& report, std::ostream& out);

}  // namespace counsel::api
