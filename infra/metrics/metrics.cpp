#include "infra/metrics/metrics.hpp"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <memory>

namespace counsel::metrics {

prometheus::Registry& registry() {
  // Never destroyed: probes held by static objects may still record during shutdown.
  static auto* instance = new prometheus::Registry();
  return *instance;
}

std::string render_metrics() {
  const prometheus::TextSerializer serializer;
  return serializer.Serialize(registry().Collect());
}

}  // namespace counsel::metrics
