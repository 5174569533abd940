#pragma once
// `counsel audit replay`: reads the events log (either engine) partition by partition, keeps
// the events that pass the filters and writes them as JSON Lines or CSV. Memory is bounded by
// one read batch, whatever the size of the log.
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "domain/events/envelope.hpp"
#include "domain/expected.hpp"
#include "infra/config.hpp"
#include "infra/log/log.hpp"

namespace counsel::api {

struct ReplayPosition {
  int32_t partition = 0;
  int64_t offset = 0;
};

// Every set member must match. Ranges are half-open: from inclusive, to exclusive.
struct ReplayFilter {
  std::optional<Timestamp> from_time, to_time;
  // A position names one partition: with one, only that partition is read.
  std::optional<ReplayPosition> from_position, to_position;
  std::optional<Uuid> actor;
  // A user whose data the event concerns: an *_id (or *_ids) member of the data anywhere, or
  // the user's own account-/counselor- stream.
  std::optional<Uuid> subject;
  std::string stream;
  // Exact types, or prefixes written with a trailing '*' ("session.*").
  std::vector<std::string> types;

  bool matches(const EventEnvelope& e) const;
};

enum class ReplayFormat { jsonl, csv };

struct ReplayOptions {
  ReplayFilter filter;
  ReplayFormat format = ReplayFormat::jsonl;
  std::string output;  // empty: stdout
};

// The audit flags of `config`; a usage error explains itself.
Expected<ReplayOptions, std::string> parse_replay_options(const Config& config);

struct ReplayProgress {
  int64_t events_read = 0;
  int64_t events_total = 0;  // from the end offsets when the replay began
  int64_t events_written = 0;
  double seconds = 0;
};

struct ReplayReport {
  int64_t events_read = 0;
  int64_t events_written = 0;
  double seconds = 0;
};

// Writes the matching events to `out`. The csv header is written even when nothing matches.
// Throws std::runtime_error when the log cannot be read.
ReplayReport replay_events(log::Log& log, const ReplayOptions& options, std::ostream& out,
                           const std::function<void(const ReplayProgress&)>& progress = {});

// The whole subcommand: writes to options.output (atomically, through a temporary file) or
// stdout, shows progress on `err` when it is a terminal, ends with a summary line on `err`.
// Returns the exit status.
int run_audit_replay(log::Log& log, const ReplayOptions& options, std::ostream& err,
                     bool err_is_terminal);

// One CSV field, quoted when it needs to be (RFC 4180).
std::string csv_field(std::string_view text);

}  // namespace counsel::api
