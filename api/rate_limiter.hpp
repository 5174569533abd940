#pragma once
// Per-client request rate limits (seed 001: authentication 10/min, chat 500/min, general
// 100/min). A client is the user of a valid bearer token, else the remote IP address, and each
// route class has a budget of its own, so a burst of logins cannot use up a user's chat budget.
//
// Algorithm: a token bucket, kept as GCRA (the "generic cell rate algorithm"): per key one
// timestamp, the theoretical arrival time (TAT) at which the bucket is full again. A limit of
// N per period allows a burst of N and then one request every period/N; a client that keeps
// to the limit is never refused. Against a sliding-window log it needs O(1) memory per key (one
// int64, not N timestamps: chat would keep 500) and gives the exact time until the next request
// is allowed, which becomes Retry-After. The price of the burst: within one period a client may
// get up to 2N-1 requests through (N at once, then N-1 as the bucket refills), never more than
// N per period on average.
//
// A key whose TAT has passed is in the same state as an unknown key, so dropping it changes no
// decision; that is how idle keys are evicted. The number of keys is capped (an attacker
// rotating IPv6 addresses cannot grow memory without bound): when a shard is full, its idle keys
// are dropped, and if none is idle the key closest to full is, which at worst grants that one
// client a fresh bucket early.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/http_server.hpp"
#include "infra/config.hpp"

namespace counsel::api {

class HttpProbe;
class Router;

enum class RouteClass { auth, chat, general };

// "auth" | "chat" | "general": the metric label.
std::string_view to_string(RouteClass route_class);

// The class a request path is limited under, or nullopt for paths never limited (/health,
// /status, /metrics: load balancers and Prometheus poll them). /api/v1/auth/* is auth,
// /api/v1/chatrooms* and /ws/chat* are chat; every other path is general, unknown ones too, so
// probing for routes costs budget like any other request.
std::optional<RouteClass> classify_path(std::string_view path);

struct RateDecision {
  bool allowed = true;
  // When refused: whole seconds until the request would be allowed (at least 1).
  std::chrono::seconds retry_after{0};
};

class RateLimiter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  struct Options {
    RateLimit auth{10, std::chrono::minutes(1)};
    RateLimit chat{500, std::chrono::minutes(1)};
    RateLimit general{100, std::chrono::minutes(1)};
    size_t max_keys = 100'000;  // over all shards; each holds max_keys / shards (at least 1)
    size_t shards = 64;         // independent mutexes: concurrent requests rarely share one
    Clock clock;                // steady_clock::now when empty; tests inject their own
  };

  explicit RateLimiter(Options options);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Spends one request of `client`'s budget for `route_class`, or refuses. `client` is an
  // opaque key, e.g. "user:<uuid>" or "ip:<address>". Thread-safe.
  RateDecision acquire(RouteClass route_class, std::string_view client);

  // Keys currently tracked (for tests and diagnostics; takes every shard's lock).
  size_t tracked_keys() const;

 private:
  struct Shard;
  struct Rate {
    int64_t interval_ns;   // period / N: what one request adds to the TAT
    int64_t tolerance_ns;  // interval * (N - 1): how far ahead of now the TAT may run
  };
  static Rate rate_for(const RateLimit& limit);

  Rate rates_[3];
  size_t per_shard_cap_;
  Clock clock_;
  std::unique_ptr<Shard[]> shards_;
  size_t shard_count_;
};

// Who a request counts against: the user id when it carries a valid bearer token, else nullopt
// (the remote IP is used then).
using UserResolver = std::function<std::optional<std::string>(const HttpRequest&)>;

// Wraps the server's handler: a request over its class's limit is answered 429 problem
// `rate_limited` with Retry-After before it reaches `inner`, recorded in `probe` (if not null)
// under its route template (from `router`) and in counsel_rate_limited_total{class}.
// `limiter`, `router` and `probe` must outlive the returned handler.
HttpHandler rate_limited_handler(HttpHandler inner, RateLimiter& limiter, UserResolver user_of,
                                 const Router& router, HttpProbe* probe);

}  // namespace counsel::api
