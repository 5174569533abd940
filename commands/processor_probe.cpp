#include "commands/processor_probe.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

#include "infra/metrics/metrics.hpp"

namespace counsel::commands {

struct ProcessorProbe::Families {
  prometheus::Family<prometheus::Counter>& commands;
  prometheus::Family<prometheus::Counter>& events;
  prometheus::Gauge& owned;
  prometheus::Gauge& streams;
  prometheus::Gauge& dedupe_ids;
  prometheus::Gauge& dedupe_bytes;
  prometheus::Family<prometheus::Histogram>& commits;
};

ProcessorProbe::ProcessorProbe() {
  auto& r = metrics::registry();
  auto& commands = prometheus::BuildCounter()
                       .Name("counsel_commands_total")
                       .Help("Commands processed, by type and outcome")
                       .Register(r);
  auto& events = prometheus::BuildCounter()
                     .Name("counsel_events_appended_total")
                     .Help("Events appended to the events log, by type")
                     .Register(r);
  auto& owned = prometheus::BuildGauge()
                    .Name("counsel_processor_partitions_owned")
                    .Help("Partitions this process's command processor owns")
                    .Register(r)
                    .Add({});
  auto& commits = prometheus::BuildHistogram()
                      .Name("counsel_processor_commit_seconds")
                      .Help("Time to commit one batch of events, results and position")
                      .Register(r);
  auto gauge = [&](const char* name, const char* help) -> prometheus::Gauge& {
    return prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
  };
  auto& streams = gauge("counsel_processor_streams",
                        "Aggregates (streams) the command processor keeps in memory");
  auto& ids = gauge("counsel_processor_dedupe_ids", "Command ids remembered for dedupe");
  auto& bytes = gauge("counsel_processor_dedupe_bytes",
                      "Approximate bytes of the remembered command ids and results");
  families_ =
      std::make_unique<Families>(Families{commands, events, owned, streams, ids, bytes, commits});
}

ProcessorProbe::~ProcessorProbe() = default;

void ProcessorProbe::command(std::string_view type, std::string_view outcome) {
  families_->commands.Add({{"type", std::string(type)}, {"outcome", std::string(outcome)}})
      .Increment();
}

void ProcessorProbe::event_appended(std::string_view type) {
  families_->events.Add({{"type", std::string(type)}}).Increment();
}

void ProcessorProbe::partitions_owned(size_t n) {
  families_->owned.Set(static_cast<double>(n));
}

void ProcessorProbe::state(size_t streams, size_t dedupe_ids, size_t dedupe_bytes) {
  families_->streams.Set(static_cast<double>(streams));
  families_->dedupe_ids.Set(static_cast<double>(dedupe_ids));
  families_->dedupe_bytes.Set(static_cast<double>(dedupe_bytes));
}

void ProcessorProbe::commit(std::chrono::steady_clock::duration elapsed, bool ok) {
  static const prometheus::Histogram::BucketBoundaries buckets{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};
  families_->commits.Add({{"ok", ok ? "true" : "false"}}, buckets)
      .Observe(std::chrono::duration<double>(elapsed).count());
}

}  // namespace counsel::commands
