#include "api/http_message.hpp"

namespace counsel::api {

std::optional<std::string_view> HttpRequest::header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  if (it == headers.end()) return std::nullopt;
  return std::string_view(it->second);
}

std::optional<std::string_view> HttpRequest::query_param(std::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

}  // namespace counsel::api
