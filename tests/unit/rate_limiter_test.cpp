#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

#include "api/http_probe.hpp"
#include "api/problem.hpp"
#include "api/rate_limiter.hpp"
#include "api/router.hpp"
#include "domain/json.hpp"
#include "infra/config.hpp"

using namespace counsel;
using namespace counsel::api;
using namespace std::chrono_literals;

namespace {

// A clock the test moves by hand, so windows pass without sleeping.
struct ManualClock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
  RateLimiter::Clock fn() {
    return [this] { return now; };
  }
};

RateLimiter::Options options(ManualClock& clock, RateLimit auth = {3, 1min},
                             RateLimit general = {100, 1min}) {
  RateLimiter::Options o;
  o.auth = auth;
  o.chat = {500, 1min};
  o.general = general;
  o.clock = clock.fn();
  return o;
}

HttpRequest request(std::string path, std::string ip, std::string authorization = "") {
  HttpRequest r;
  r.method = "POST";
  r.path = std::move(path);
  r.target = r.path;
  r.remote_ip = std::move(ip);
  if (!authorization.empty()) r.headers["authorization"] = std::move(authorization);
  return r;
}

std::optional<std::string> header(const HttpResponse& r, std::string_view name) {
  for (const auto& [key, value] : r.headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(rate_limiter_test)

BOOST_AUTO_TEST_CASE(parses_limits_in_every_unit) {
  BOOST_TEST((parse_rate_limit("10/min") == RateLimit{10, 60s}));
  BOOST_TEST((parse_rate_limit("500/minute") == RateLimit{500, 60s}));
  BOOST_TEST((parse_rate_limit("5/s") == RateLimit{5, 1s}));
  BOOST_TEST((parse_rate_limit(" 7 / SEC ") == RateLimit{7, 1s}));
  BOOST_TEST((parse_rate_limit("1000/hour") == RateLimit{1000, 3600s}));
  BOOST_TEST((parse_rate_limit("2/h") == RateLimit{2, 3600s}));
  BOOST_TEST((parse_rate_limit("3/day") == RateLimit{3, 86400s}));
}

BOOST_AUTO_TEST_CASE(rejects_malformed_limits_with_a_clear_message) {
  for (const char* bad : {"", "10", "/min", "ten/min", "10/fortnight", "0/min", "-1/min", "10/",
                          "1.5/s", "10/min/s", "2000000/s", "99999999999999999999/s"}) {
    BOOST_TEST_CONTEXT(bad) {
      BOOST_CHECK_THROW(parse_rate_limit(bad), std::invalid_argument);
    }
  }
  try {
    parse_rate_limit("ten/min");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("10/min") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(classifies_routes) {
  BOOST_TEST((classify_path("/api/v1/auth/login") == RouteClass::auth));
  BOOST_TEST((classify_path("/api/v1/auth/2fa/setup") == RouteClass::auth));
  BOOST_TEST((classify_path("/api/v1/authors") == RouteClass::general));
  BOOST_TEST((classify_path("/api/v1/chatrooms") == RouteClass::chat));
  BOOST_TEST((classify_path("/api/v1/chatrooms/r1/messages") == RouteClass::chat));
  BOOST_TEST((classify_path("/ws/chat/r1") == RouteClass::chat));
  BOOST_TEST((classify_path("/api/v1/sessions") == RouteClass::general));
  BOOST_TEST((classify_path("/no/such/route") == RouteClass::general));
  for (const char* exempt : {"/health", "/status", "/metrics", "/health/"}) {
    BOOST_TEST_CONTEXT(exempt) {
      BOOST_TEST(!classify_path(exempt).has_value());
    }
  }
}

BOOST_AUTO_TEST_CASE(refuses_the_request_after_the_limit_with_retry_after) {
  ManualClock clock;
  RateLimiter limiter(options(clock));  // auth 3/min: one request every 20 s after a burst of 3
  for (int i = 0; i < 3; ++i) BOOST_TEST(limiter.acquire(RouteClass::auth, "ip:10.0.0.1").allowed);
  auto refused = limiter.acquire(RouteClass::auth, "ip:10.0.0.1");
  BOOST_TEST(!refused.allowed);
  BOOST_TEST(refused.retry_after.count() == 20);
  clock.now += 5s;
  refused = limiter.acquire(RouteClass::auth, "ip:10.0.0.1");
  BOOST_TEST(!refused.allowed);
  BOOST_TEST(refused.retry_after.count() == 15, "refusals do not push recovery further");
  clock.now += 14500ms;
  refused = limiter.acquire(RouteClass::auth, "ip:10.0.0.1");
  BOOST_TEST(!refused.allowed);
  BOOST_TEST(refused.retry_after.count() == 1, "a fraction of a second rounds up to 1");
}

BOOST_AUTO_TEST_CASE(recovers_one_request_per_interval_and_fully_after_the_window) {
  ManualClock clock;
  RateLimiter limiter(options(clock));
  for (int i = 0; i < 3; ++i) BOOST_TEST(limiter.acquire(RouteClass::auth, "ip:a").allowed);
  BOOST_TEST(!limiter.acquire(RouteClass::auth, "ip:a").allowed);
  clock.now += 20s;  // Retry-After said 20: exactly one more request then
  BOOST_TEST(limiter.acquire(RouteClass::auth, "ip:a").allowed);
  BOOST_TEST(!limiter.acquire(RouteClass::auth, "ip:a").allowed);
  clock.now += 1min;  // a whole window later the full burst is back
  for (int i = 0; i < 3; ++i) BOOST_TEST(limiter.acquire(RouteClass::auth, "ip:a").allowed);
  BOOST_TEST(!limiter.acquire(RouteClass::auth, "ip:a").allowed);
}

BOOST_AUTO_TEST_CASE(a_client_within_the_rate_is_never_refused) {
  ManualClock clock;
  RateLimiter limiter(options(clock, {2, 1s}));
  for (int i = 0; i < 1000; ++i) {
    BOOST_TEST_REQUIRE(limiter.acquire(RouteClass::auth, "ip:steady").allowed);
    clock.now += 500ms;
  }
}

BOOST_AUTO_TEST_CASE(keys_and_classes_are_independent) {
  ManualClock clock;
  RateLimiter limiter(options(clock, {1, 1min}, {1, 1min}));
  BOOST_TEST(limiter.acquire(RouteClass::auth, "ip:a").allowed);
  BOOST_TEST(!limiter.acquire(RouteClass::auth, "ip:a").allowed);
  BOOST_TEST(limiter.acquire(RouteClass::auth, "ip:b").allowed, "another client has its own");
  BOOST_TEST(limiter.acquire(RouteClass::general, "ip:a").allowed, "another class has its own");
  BOOST_TEST(limiter.acquire(RouteClass::chat, "ip:a").allowed);
  BOOST_TEST(!limiter.acquire(RouteClass::general, "ip:a").allowed);
}

BOOST_AUTO_TEST_CASE(idle_keys_are_evicted_and_the_key_count_stays_bounded) {
  ManualClock clock;
  auto o = options(clock);
  o.max_keys = 100;
  o.shards = 4;  // 25 keys per shard
  RateLimiter limiter(std::move(o));
  for (int i = 0; i < 10'000; ++i) {
    limiter.acquire(RouteClass::general, "ip:" + std::to_string(i));
    BOOST_TEST_REQUIRE(limiter.tracked_keys() <= 100u);
  }
  BOOST_TEST(limiter.tracked_keys() > 0u);
  // Once their buckets are full again the keys are idle and make room at no loss.
  clock.now += 1h;
  BOOST_TEST(limiter.acquire(RouteClass::general, "ip:fresh").allowed);
  BOOST_TEST(limiter.tracked_keys() <= 100u);
}

BOOST_AUTO_TEST_CASE(eviction_keeps_the_busy_keys_it_can) {
  ManualClock clock;
  auto o = options(clock, {1, 1min});
  o.max_keys = 2;
  o.shards = 1;
  RateLimiter limiter(std::move(o));
  BOOST_TEST(limiter.acquire(RouteClass::auth, "ip:busy").allowed);
  clock.now += 50s;  // "ip:busy" is 10 s from a full bucket
  BOOST_TEST(limiter.acquire(RouteClass::auth, "ip:newer").allowed);
  BOOST_TEST(limiter.acquire(RouteClass::auth, "ip:third").allowed);  // evicts "ip:busy"
  BOOST_TEST(limiter.tracked_keys() == 2u);
  BOOST_TEST(!limiter.acquire(RouteClass::auth, "ip:newer").allowed, "the younger key stayed");
  clock.now += 2min;  // everything idle: one sweep frees both slots
  BOOST_TEST(limiter.acquire(RouteClass::auth, "ip:fourth").allowed);
  BOOST_TEST(limiter.tracked_keys() == 1u);
}

BOOST_AUTO_TEST_CASE(the_handler_answers_429_problem_and_keys_users_apart_from_ips) {
  ManualClock clock;
  RateLimiter limiter(options(clock, {2, 1min}, {2, 1min}));
  int reached = 0;
  HttpHandler inner = [&reached](const HttpRequest&) {
    ++reached;
    return HttpResponse{};
  };
  // Stands in for JWT verification: "Bearer alice" is user alice, anything else is invalid.
  UserResolver user_of = [](const HttpRequest& r) -> std::optional<std::string> {
    auto h = r.header("authorization");
    if (h && *h == "Bearer alice") return std::string("alice");
    return std::nullopt;
  };
  Router router;
  router.add("POST", "/api/v1/auth/login",
             [](const HttpRequest&, const PathParams&) { return HttpResponse{}; });
  prometheus::Registry registry;
  HttpProbe probe(registry);
  HttpHandler handler = rate_limited_handler(inner, limiter, user_of, router, &probe);

  BOOST_TEST(handler(request("/api/v1/auth/login", "192.0.2.1")).status == 200);
  BOOST_TEST(handler(request("/api/v1/auth/login", "192.0.2.1")).status == 200);
  HttpResponse refused = handler(request("/api/v1/auth/login", "192.0.2.1"));
  BOOST_TEST(refused.status == 429);
  BOOST_TEST(refused.content_type == std::string(kProblemContentType));
  BOOST_TEST(header(refused, "Retry-After").value_or("") == "30");
  auto body = json::parse(refused.body);
  BOOST_TEST_REQUIRE(body.has_value());
  BOOST_TEST(std::string((*body)["code"].GetString()) == "rate_limited");
  BOOST_TEST((*body)["status"].GetInt() == 429);
  BOOST_TEST(reached == 2, "a refused request never reaches the router");

  // The same address with a valid token is the user, whose budget is separate; an invalid
  // token counts against the address.
  BOOST_TEST(handler(request("/api/v1/auth/login", "192.0.2.1", "Bearer alice")).status == 200);
  BOOST_TEST(handler(request("/api/v1/auth/login", "192.0.2.1", "Bearer forged")).status == 429);
  // The user's budget follows them to another address.
  BOOST_TEST(handler(request("/api/v1/auth/login", "198.51.100.7", "Bearer alice")).status == 200);
  BOOST_TEST(handler(request("/api/v1/auth/login", "198.51.100.7", "Bearer alice")).status == 429);
  BOOST_TEST(handler(request("/api/v1/auth/login", "198.51.100.7")).status == 200);

  // Ops endpoints are never limited.
  for (int i = 0; i < 50; ++i)
    BOOST_TEST_REQUIRE(handler(request("/health", "192.0.2.1")).status == 200);

  const std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  BOOST_TEST(text.find("counsel_rate_limited_total{class=\"auth\"} 3") != std::string::npos, text);
  BOOST_TEST(text.find("route=\"/api/v1/auth/login\",status=\"429\"") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(concurrent_acquires_never_exceed_the_burst) {
  ManualClock clock;  // frozen: no refill while the threads run
  RateLimiter limiter(options(clock, {100, 1min}));
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (limiter.acquire(RouteClass::auth, "ip:shared").allowed) ++allowed;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  BOOST_TEST(allowed.load() == 100);
}

BOOST_AUTO_TEST_SUITE_END()
