#include "api/rate_limiter.hpp"

#include <algorithm>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "api/http_probe.hpp"
#include "api/problem.hpp"
#include "api/router.hpp"

namespace counsel::api {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

// Heterogeneous lookup: acquire() finds a key from a string_view without allocating.
struct KeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
struct KeyEqual {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
};

size_t class_index(RouteClass route_class) {
  return static_cast<size_t>(route_class);
}

// True when `path` is `prefix` or continues it with another segment ("/a/b" for "/a"), so
// "/api/v1/authors" is not "/api/v1/auth".
bool in_subtree(std::string_view path, std::string_view prefix) {
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

}  // namespace

std::string_view to_string(RouteClass route_class) {
  switch (route_class) {
    case RouteClass::auth:
      return "auth";
    case RouteClass::chat:
      return "chat";
    case RouteClass::general:
      return "general";
  }
  return "general";
}

std::optional<RouteClass> classify_path(std::string_view path) {
  // The router tolerates one trailing slash, so "/health/" reaches /health: exempt it too.
  std::string_view bare = path;
  if (bare.size() > 1 && bare.back() == '/') bare.remove_suffix(1);
  if (bare == "/health" || bare == "/status" || bare == "/metrics") return std::nullopt;
  if (in_subtree(path, "/api/v1/auth")) return RouteClass::auth;
  if (path.starts_with("/api/v1/chatrooms") || path.starts_with("/ws/chat"))
    return RouteClass::chat;
  return RouteClass::general;
}

struct RateLimiter::Shard {
  std::mutex mutex;
  // One map per route class, so a lookup needs no composite key built per request.
  std::unordered_map<std::string, int64_t, KeyHash, KeyEqual> tats[3];
  size_t size() const { return tats[0].size() + tats[1].size() + tats[2].size(); }
};

RateLimiter::Rate RateLimiter::rate_for(const RateLimit& limit) {
  if (limit.requests < 1 || limit.period.count() < 1)
    throw std::invalid_argument("a rate limit needs at least one request per positive period");
  const int64_t period_ns = std::chrono::nanoseconds(limit.period).count();
  const int64_t interval = std::max<int64_t>(1, period_ns / limit.requests);
  return Rate{interval, interval * (limit.requests - 1)};
}

RateLimiter::RateLimiter(Options options)
    : rates_{rate_for(options.auth), rate_for(options.chat), rate_for(options.general)},
      clock_(options.clock ? std::move(options.clock)
                           : Clock([] { return std::chrono::steady_clock::now(); })),
      shard_count_(std::max<size_t>(1, options.shards)) {
  per_shard_cap_ = std::max<size_t>(1, options.max_keys / shard_count_);
  shards_ = std::make_unique<Shard[]>(shard_count_);
}

RateLimiter::~RateLimiter() = default;

RateDecision RateLimiter::acquire(RouteClass route_class, std::string_view client) {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock_().time_since_epoch()).count();
  const size_t index = class_index(route_class);
  const Rate& rate = rates_[index];
  // The class is mixed in so one client's three buckets usually sit in different shards.
  Shard& shard = shards_[(KeyHash{}(client) + index * 0x9e3779b97f4a7c15ULL) % shard_count_];

  std::lock_guard lock(shard.mutex);
  auto& tats = shard.tats[index];
  auto it = tats.find(client);
  const int64_t tat = it == tats.end() ? now : std::max(it->second, now);
  if (tat - now > rate.tolerance_ns) {
    // Refusals leave the TAT alone: hammering while limited does not push recovery further.
    const int64_t wait = tat - rate.tolerance_ns - now;
    const int64_t seconds = std::max<int64_t>(1, (wait + kNanosPerSecond - 1) / kNanosPerSecond);
    return RateDecision{false, std::chrono::seconds(seconds)};
  }
  const int64_t next = tat + rate.interval_ns;
  if (it != tats.end()) {
    it->second = next;
    return RateDecision{};
  }
  if (shard.size() >= per_shard_cap_) {
    // Idle keys (TAT passed: the bucket is full) decide exactly like unknown ones: drop them.
    for (auto& map : shard.tats)
      std::erase_if(map, [now](const auto& kv) { return kv.second <= now; });
    if (shard.size() >= per_shard_cap_) {
      // All busy: drop the one nearest to full, the smallest loss of limiting.
      int64_t oldest = std::numeric_limits<int64_t>::max();
      std::unordered_map<std::string, int64_t, KeyHash, KeyEqual>* victim_map = nullptr;
      std::unordered_map<std::string, int64_t, KeyHash, KeyEqual>::iterator victim;
      for (auto& map : shard.tats) {
        for (auto candidate = map.begin(); candidate != map.end(); ++candidate) {
          if (candidate->second < oldest) {
            oldest = candidate->second;
            victim_map = &map;
            victim = candidate;
          }
        }
      }
      if (victim_map) victim_map->erase(victim);
    }
  }
  tats.emplace(std::string(client), next);
  return RateDecision{};
}

size_t RateLimiter::tracked_keys() const {
  size_t total = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    total += shards_[i].size();
  }
  return total;
}

HttpHandler rate_limited_handler(HttpHandler inner, RateLimiter& limiter, UserResolver user_of,
                                 const Router& router, HttpProbe* probe) {
  return [inner = std::move(inner), &limiter, user_of = std::move(user_of), &router,
          probe](const HttpRequest& request) {
    const auto started = std::chrono::steady_clock::now();
    const auto route_class = classify_path(request.path);
    if (!route_class) return inner(request);
    std::string client;
    if (user_of) {
      if (auto user = user_of(request)) client = "user:" + *user;
    }
    if (client.empty()) client = "ip:" + request.remote_ip;
    const RateDecision decision = limiter.acquire(*route_class, client);
    if (decision.allowed) return inner(request);

    HttpResponse response = problem_response(
        too_many_requests(decision.retry_after.count(),
                          "Too many " + std::string(to_string(*route_class)) +
                              " requests from this client; retry after " +
                              std::to_string(decision.retry_after.count()) + " s."),
        request.path);
    if (probe) {
      // Refusals are rare, so matching the route only for them costs nothing on the hot path.
      auto match = router.match(request.method, request.path);
      const std::string_view route = match ? match->route_template : std::string_view("unmatched");
      probe->rate_limited(to_string(*route_class));
      probe->record(request.method, route, response.status,
                    std::chrono::steady_clock::now() - started);
    }
    return response;
  };
}

}  // namespace counsel::api
