#include "api/router.hpp"

#include <algorithm>
#include <stdexcept>

namespace counsel::api {

void PathParams::add(std::string name, std::string value) {
  values_.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string_view> PathParams::get(std::string_view name) const {
  for (const auto& [key, value] : values_) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

const std::string& PathParams::at(std::string_view name) const {
  for (const auto& [key, value] : values_) {
    if (key == name) return value;
  }
  throw std::out_of_range("no path parameter named " + std::string(name));
}

namespace {

// "/a/b/" → {"a", "b"}; "/" → {}. Empty inner segments ("/a//b") are kept so that they
// never match a literal or a parameter.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return parts;
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      parts.push_back(path.substr(start));
      break;
    }
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

}  // namespace

void Router::add(std::string method, std::string_view pattern, RouteHandler handler) {
  std::vector<Segment> segments;
  for (std::string_view part : split_path(pattern)) {
    if (part.size() >= 2 && part.front() == '{' && part.back() == '}') {
      segments.push_back({std::string(part.substr(1, part.size() - 2)), true});
    } else {
      segments.push_back({std::string(part), false});
    }
  }
  for (auto& route : routes_) {
    if (route.method == method && route.pattern == pattern) {
      route.handler = std::move(handler);
      return;
    }
  }
  routes_.push_back(
      {std::move(method), std::string(pattern), std::move(segments), std::move(handler)});
}

Expected<RouteMatch, ApiError> Router::match(std::string_view method, std::string_view path) const {
  const std::vector<std::string_view> parts = split_path(path);

  // Specificity: for each segment, literal (1) beats parameter (0); compared left to right.
  const Route* best = nullptr;
  std::vector<bool> best_specificity;
  std::vector<std::string> allowed;

  for (const auto& route : routes_) {
    if (route.segments.size() != parts.size()) continue;
    std::vector<bool> specificity(parts.size());
    bool fits = true;
    for (size_t i = 0; i < parts.size() && fits; ++i) {
      const Segment& segment = route.segments[i];
      if (segment.is_param) {
        fits = !parts[i].empty();
      } else {
        fits = segment.text == parts[i];
        specificity[i] = true;
      }
    }
    if (!fits) continue;
    if (route.method != method) {
      if (std::find(allowed.begin(), allowed.end(), route.method) == allowed.end()) {
        allowed.push_back(route.method);
      }
      continue;
    }
    if (best == nullptr || specificity > best_specificity) {
      best = &route;
      best_specificity = std::move(specificity);
    }
  }

  if (best == nullptr) {
    if (!allowed.empty()) {
      std::sort(allowed.begin(), allowed.end());
      return unexpected(method_not_allowed(allowed));
    }
    return unexpected(not_found("not_found", "No resource at this path."));
  }

  RouteMatch result;
  result.handler = &best->handler;
  result.route_template = best->pattern;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (best->segments[i].is_param)
      result.params.add(best->segments[i].text, std::string(parts[i]));
  }
  return result;
}

HttpResponse Router::dispatch(const HttpRequest& request, std::string* route_template) const {
  auto matched = match(request.method, request.path);
  if (!matched) {
    if (route_template) *route_template = "unmatched";
    return problem_response(matched.error(), request.path);
  }
  if (route_template) *route_template = std::string(matched->route_template);
  if (guard_) {
    if (auto refused = guard_(request, matched->route_template)) return std::move(*refused);
  }
  return (*matched->handler)(request, matched->params);
}

void Router::set_guard(RouteGuard guard) {
  guard_ = std::move(guard);
}

std::vector<RouteKey> Router::routes() const {
  std::vector<RouteKey> keys;
  keys.reserve(routes_.size());
  for (const auto& route : routes_) keys.push_back({route.method, route.pattern});
  return keys;
}

}  // namespace counsel::api
