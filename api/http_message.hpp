#pragma once
// Plain request/response records exchanged between the HTTP server and the handlers. They
// carry no Beast types, so handlers and the router compile without Boost.Beast.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace counsel::api {

struct AuthOutcome;  // app_context.hpp

// Where authenticate() keeps its outcome for the request it was asked about: the rate limiter,
// the access guard and the handler each need the caller, the token is verified once. A copy
// starts empty (a copied request may get other headers, and is authenticated afresh).
class AuthMemo {
 public:
  AuthMemo() = default;
  AuthMemo(const AuthMemo&) {}
  AuthMemo& operator=(const AuthMemo&) {
    outcome_.reset();
    return *this;
  }
  const AuthOutcome* get() const { return outcome_.get(); }
  void set(std::shared_ptr<const AuthOutcome> outcome) const { outcome_ = std::move(outcome); }

 private:
  mutable std::shared_ptr<const AuthOutcome> outcome_;
};

struct HttpRequest {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // raw request target, e.g. "/api/v1/counselors?q=a%20b"
  std::string path;    // percent-decoded path, e.g. "/api/v1/counselors"
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order ('+' is a space)
  std::map<std::string, std::string> headers;  // lower-case names; repeated fields joined by ", "
  std::string body;
  std::string remote_ip;
  AuthMemo auth;  // see authenticate(); not part of what was received

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
