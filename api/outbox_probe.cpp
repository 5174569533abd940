#include "api/outbox_probe.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string>

#include "infra/metrics/metrics.hpp"

namespace counsel::api::notify {

struct OutboxProbe::Families {
  prometheus::Family<prometheus::Counter>& deliveries;
  prometheus::Gauge& pending;
};

OutboxProbe::OutboxProbe() : OutboxProbe(metrics::registry()) {}

OutboxProbe::OutboxProbe(prometheus::Registry& registry)
    : families_(std::make_unique<Families>(
          Families{prometheus::BuildCounter()
                       .Name("counsel_outbox_deliveries_total")
                       .Help("Notification delivery attempts by channel and outcome (delivered, "
                             "failed: retried later, gave_up)")
                       .Register(registry),
                   prometheus::BuildGauge()
                       .Name("counsel_outbox_pending_messages")
                       .Help("Notifications not yet delivered and not given up")
                       .Register(registry)
                       .Add({})})) {}

OutboxProbe::~OutboxProbe() = default;

void OutboxProbe::attempt(std::string_view channel, std::string_view outcome) {
  families_->deliveries.Add({{"channel", std::string(channel)}, {"outcome", std::string(outcome)}})
      .Increment();
}

void OutboxProbe::pending(int64_t count) {
  families_->pending.Set(static_cast<double>(count));
}

}  // namespace counsel::api::notify
