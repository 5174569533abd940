#pragma once
// The process-wide Prometheus registry. Code never registers metrics from business logic:
// each component gets a small *_probe class (e.g. api/http_probe.hpp) that owns its metric
// families and is called at the component's edges. /metrics renders the registry as text.
#include <string>

namespace prometheus {
class Registry;
}

namespace counsel::metrics {

prometheus::Registry& registry();

// Prometheus text exposition format (version 0.0.4) of everything in registry().
std::string render_metrics();
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace counsel::metrics
