#include "api/http_probe.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

#include "infra/metrics/metrics.hpp"

namespace counsel::api {

struct HttpProbe::Families {
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& durations;
  prometheus::Family<prometheus::Counter>& rate_limited;
};

namespace {
const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
  return buckets;
}
// Clients may send any token as a method; only known ones become label values.
std::string method_label_for(std::string_view method) {
  for (std::string_view known : {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}) {
    if (method == known) return std::string(known);
  }
  return "other";
}
}  // namespace

HttpProbe::HttpProbe() : HttpProbe(metrics::registry()) {}

HttpProbe::HttpProbe(prometheus::Registry& registry)
    : families_(std::make_unique<Families>(
          Families{prometheus::BuildCounter()
                       .Name("counsel_http_requests_total")
                       .Help("HTTP requests by route template, method and status")
                       .Register(registry),
                   prometheus::BuildHistogram()
                       .Name("counsel_http_request_duration_seconds")
                       .Help("HTTP request latency by route template and method")
                       .Register(registry),
                   prometheus::BuildCounter()
                       .Name("counsel_rate_limited_total")
                       .Help("Requests refused with 429 by the rate limiter, by route class")
                       .Register(registry)})) {}

HttpProbe::~HttpProbe() = default;

void HttpProbe::record(std::string_view method, std::string_view route_template, int status,
                       std::chrono::steady_clock::duration elapsed) {
  const std::string method_label = method_label_for(method);
  const std::string route_label(route_template);
  // Family::Add returns the existing series for known labels (thread-safe).
  families_->requests
      .Add({{"method", method_label}, {"route", route_label}, {"status", std::to_string(status)}})
      .Increment();
  families_->durations.Add({{"method", method_label}, {"route", route_label}}, latency_buckets())
      .Observe(std::chrono::duration<double>(elapsed).count());
}

void HttpProbe::rate_limited(std::string_view route_class) {
  families_->rate_limited.Add({{"class", std::string(route_class)}}).Increment();
}

HttpHandler instrumented_handler(const Router& router, HttpProbe* probe) {
  return [&router, probe](const HttpRequest& request) {
    const auto started = std::chrono::steady_clock::now();
    std::string route = "unmatched";
    try {
      HttpResponse response = router.dispatch(request, &route);
      if (probe) {
        probe->record(request.method, route, response.status,
                      std::chrono::steady_clock::now() - started);
      }
      return response;
    } catch (...) {
      if (probe)
        probe->record(request.method, route, 500, std::chrono::steady_clock::now() - started);
      throw;
    }
  };
}

}  // namespace counsel::api
