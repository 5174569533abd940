#include "api/access_probe.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string>

#include "infra/metrics/metrics.hpp"

namespace counsel::api {

struct AccessProbe::Families {
  prometheus::Family<prometheus::Counter>& records;
  prometheus::Counter& delayed;
  prometheus::Gauge& pending;
};

AccessProbe::AccessProbe() : AccessProbe(metrics::registry()) {}

AccessProbe::AccessProbe(prometheus::Registry& registry)
    : families_(std::make_unique<Families>(Families{
          prometheus::BuildCounter()
              .Name("counsel_access_records_total")
              .Help("Reads of sensitive records to be logged as access.recorded, by outcome "
                    "(queued, appended, refused: the queue was full and the read was refused)")
              .Register(registry),
          prometheus::BuildCounter()
              .Name("counsel_access_records_delayed_total")
              .Help("Access records appended late: after a failed append (retried until it "
                    "succeeds) or after waiting longer than the flush interval")
              .Register(registry)
              .Add({}),
          prometheus::BuildGauge()
              .Name("counsel_access_records_pending")
              .Help("Access records waiting to be appended to the log")
              .Register(registry)
              .Add({})})) {}

AccessProbe::~AccessProbe() = default;

void AccessProbe::records(std::string_view outcome, size_t count) {
  families_->records.Add({{"outcome", std::string(outcome)}}).Increment(static_cast<double>(count));
}

void AccessProbe::delayed(size_t count) {
  families_->delayed.Increment(static_cast<double>(count));
}

void AccessProbe::pending(size_t count) {
  families_->pending.Set(static_cast<double>(count));
}

}  // namespace counsel::api
