#pragma once
// The one place where failures become HTTP: RFC 9457 problem+json bodies with a stable
// machine-readable `code`. Handlers build an ApiError (or get one from a domain Rejection)
// and never pick status codes for errors themselves.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/http_message.hpp"
#include "domain/rejection.hpp"

namespace counsel::api {

struct ApiError {
  int status = 500;
  std::string code;    // stable, e.g. "slot_unavailable"; also names the problem type URI
  std::string title;   // short, per status; defaults to the reason phrase when empty
  std::string detail;  // human-readable, safe to show to the caller (no internals)
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Allow, Retry-After
  // The request field a validation_failed problem is about; written as "field" when set.
  std::string field = {};
};

inline constexpr std::string_view kProblemContentType = "application/problem+json";
inline constexpr std::string_view kProblemTypeBase = "https://counsel.example/problems/";

// {type, title, status, detail, code, instance, timestamp} (+ field when set); `instance` is the
// request path.
HttpResponse problem_response(const ApiError& error, std::string_view instance_path);

// Rejection kinds map to statuses here and nowhere else: invalid 400, unauthorized 401,
// forbidden 403, not_found 404, conflict 409, unprocessable 422. A validation_failed rejection
// ("<field>: <expected>") also names its field.
int status_for(RejectionKind kind);
ApiError from_rejection(const Rejection& rejection);
// 400 validation_failed naming `field`: "<field>: <expected>", as the domain's readers phrase it.
ApiError validation_failed(std::string_view field, std::string_view expected);

// The standard reason phrase ("Not Found"), or "Error" for unknown statuses.
std::string_view reason_phrase(int status);

ApiError bad_request(std::string code, std::string detail);
ApiError unauthorized(std::string code, std::string detail);  // adds WWW-Authenticate: Bearer
ApiError forbidden(std::string code, std::string detail);
ApiError not_found(std::string code = "not_found", std::string detail = "No such resource.");
ApiError method_not_allowed(const std::vector<std::string>& allowed_methods);
ApiError conflict(std::string code, std::string detail);
ApiError unprocessable(std::string code, std::string detail);
ApiError payload_too_large(std::string detail = "The request body is too large.");
ApiError headers_too_large(std::string detail = "The request headers are too large.");
// 429 "rate_limited" with Retry-After: the whole seconds until a request would be allowed.
ApiError too_many_requests(
    int64_t retry_after_seconds,
    std::string detail = "Too many requests from this client; retry after Retry-After seconds.");
ApiError overloaded(std::string detail = "The server is busy; retry shortly.");  // 503, Retry-After
ApiError internal_error();  // 500; deliberately says nothing about the cause
ApiError unavailable(std::string code, std::string detail);  // 503
ApiError gone(std::string code, std::string detail);         // 410

}  // namespace counsel::api
