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
  HttpResponse dispatch(const HttpRequest& request, std::string* route_template = nullptr) const;

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
};

}  // namespace counsel::api
