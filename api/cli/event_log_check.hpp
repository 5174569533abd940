#pragma once
// `counsel log check`: walks every partition of the events log from offset 0, recomputes the
// hash chain, checks per-stream sequences and validates each event against its JSON Schema.
#include <filesystem>
#include <ostream>
#include <string>

#include "infra/log/log.hpp"

namespace counsel::api {

struct LogCheckReport {
  int64_t events = 0;
  int64_t broken_links = 0;     // hash or prev_hash mismatches, gaps
  int64_t schema_failures = 0;  // events that do not validate (or have no schema)
  int64_t sequence_errors = 0;  // per-stream sequence not 1, 2, 3, ...
  std::string first_problem;    // "partition P offset O: why"
  bool intact() const { return broken_links == 0 && schema_failures == 0 && sequence_errors == 0; }
};

std::filesystem::path default_schemas_dir();
LogCheckReport check_event_log(log::Log& log, const std::filesystem::path& schemas_dir,
                               std::ostream* progress);

}  // namespace counsel::api
