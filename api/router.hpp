#pragma once
// The route table: method + path template ("/api/v1/sessions/{id}/confirm") → handler.
// Matching is by path segment; a literal segment beats a parameter, so "/sessions/mine"
// wins over "/sessions/{id}" whatever the order routes were added in. A trailing slash is
// tolerated ("/api/v1/counselors/" matches "/api/v1/counselors"), as the Django seeds use them.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/http_message.hpp"
#include "api/problem.hpp"
#include "domain/expected.hpp"

namespace counsel::api {

class PathParams {
 public:
  void add(std::string name, std::string value);
  std::optional<std::string_view> get(std::string_view name) const;
  // For handlers whose route guarantees the parameter; throws std::out_of_range otherwise.
  const std::string& at(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& all() const { return values_; }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

using RouteHandler = std::function<HttpResponse(const HttpRequest&, const PathParams&)>;

// Runs after a request matched a route and before its handler: a response (a 401 or 403, say)
// answers the request instead of the handler; nullopt lets it through.
using RouteGuard =
    std::function<std::optional<HttpResponse>(const HttpRequest&, std::string_view route_template)>;

// A registered route: upper-case method and the template exactly as added.
struct RouteKey {
  std::string method;
  std::string pattern;
  friend bool operator==(const RouteKey&, const RouteKey&) = default;
};

struct RouteMatch {
  const RouteHandler* handler = nullptr;  // owned by the router; valid while it lives
  PathParams params;
  std::string_view route_template;  // e.g. "/api/v1/sessions/{id}" (for metrics and logs)
};

class Router {
 public:
  // `method` is upper case ("GET"); `pattern` starts with '/'; "{name}" segments capture.
  // Adding the same method and pattern twice replaces the first handler.
  void add(std::string method, std::string_view pattern, RouteHandler handler);

  // 404 problem "not_found" when no template fits the path; 405 "method_not_allowed" with an
  // Allow header when templates fit but none for this method.
  Expected<RouteMatch, ApiError> match(std::string_view method, std::string_view path) const;

  // match() then run the handler, or the problem response. `route_template` (optional)
  // receives the matched template, or "unmatched", for metrics.
  // The guard (if set) runs between the match and the handler.
  HttpResponse dispatch(const HttpRequest& request, std::string* route_template = nullptr) const;

  // One guard for every route, so that checks such as who may call what cannot be forgotten
  // by a handler; setting another replaces it.
  void set_guard(RouteGuard guard);

  // Every route, in the order added: for checks that a declaration covers them all.
  std::vector<RouteKey> routes() const;

 private:
  struct Segment {
    std::string text;  // literal text, or the parameter name
    bool is_param = false;
  };
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    RouteHandler handler;
  };
  std::vector<Route> routes_;
  RouteGuard guard_;
};

}  // namespace counsel::api
