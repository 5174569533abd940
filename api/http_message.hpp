#pragma once
// Plain request/response records exchanged between the HTTP server and the handlers. They
// carry no Beast types, so handlers and the router compile without Boost.Beast.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace counsel::api {

struct HttpRequest {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // raw request target, e.g. "/api/v1/counselors?q=a%20b"
  std::string path;    // percent-decoded path, e.g. "/api/v1/counselors"
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order ('+' is a space)
  std::map<std::string, std::string> headers;  // lower-case names; repeated fields joined by ", "
  std::string body;
  std::string remote_ip;

  std::optional<std::string_view> header(std::string_view lower_name) const;
  // The first value of a query parameter.
  std::optional<std::string_view> query_param(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

}  // namespace counsel::api
