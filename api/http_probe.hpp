#pragma once
// HTTP metrics, kept out of the handlers: requests by route template, method and status
// (counsel_http_requests_total) and latency by route template and method
// (counsel_http_request_duration_seconds), and rate-limit refusals by route class
// (counsel_rate_limited_total). Route templates ("/api/v1/sessions/{id}"), never raw
// paths, label the series, so their number stays bounded.
#include <chrono>
#include <memory>
#include <string_view>

#include "api/http_server.hpp"
#include "api/router.hpp"

namespace prometheus {
class Registry;
}

namespace counsel::api {

class HttpProbe {
 public:
  // Registers its families in `registry` (the process-wide one by default).
  HttpProbe();
  explicit HttpProbe(prometheus::Registry& registry);
  ~HttpProbe();
  HttpProbe(const HttpProbe&) = delete;
  HttpProbe& operator=(const HttpProbe&) = delete;

  void record(std::string_view method, std::string_view route_template, int status,
              std::chrono::steady_clock::duration elapsed);
  // A request refused by the rate limiter (counsel_rate_limited_total{class}); it is also
  // record()ed with status 429.
  void rate_limited(std::string_view route_class);

 private:
  struct Families;
  std::unique_ptr<Families> families_;
};

// The server's handler: routes the request and records it in `probe` (if not null). A handler
// that throws is recorded as 500 and the exception passes on to the server. `router` and `probe`
// must outlive the returned handler.
HttpHandler instrumented_handler(const Router& router, HttpProbe* probe);

}  // namespace counsel::api
