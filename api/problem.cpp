#include "api/problem.hpp"

#include <chrono>

#include "domain/json.hpp"
#include "domain/time.hpp"

namespace counsel::api {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

HttpResponse problem_response(const ApiError& error, std::string_view instance_path) {
  rapidjson::StringBuffer buffer;
  json::Writer writer(buffer);
  writer.StartObject();
  json::key(writer, "type");
  if (error.code.empty()) {
    json::write_string(writer, "about:blank");
  } else {
    json::write_string(writer, std::string(kProblemTypeBase) + error.code);
  }
  json::key(writer, "title");
  json::write_string(writer, error.title.empty() ? reason_phrase(error.status) : error.title);
  json::key(writer, "status");
  writer.Int(error.status);
  json::key(writer, "detail");
  json::write_string(writer, error.detail);
  json::key(writer, "code");
  json::write_string(writer, error.code);
  if (!error.field.empty()) {
    json::key(writer, "field");
    json::write_string(writer, error.field);
  }
  json::key(writer, "instance");
  json::write_string(writer, instance_path);
  json::key(writer, "timestamp");
  json::write_string(writer, format_rfc3339(std::chrono::time_point_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now())));
  writer.EndObject();

  HttpResponse response;
  response.status = error.status;
  response.content_type = std::string(kProblemContentType);
  response.body.assign(buffer.GetString(), buffer.GetSize());
  response.headers = error.headers;
  return response;
}

int status_for(RejectionKind kind) {
  switch (kind) {
    case RejectionKind::invalid:
      return 400;
    case RejectionKind::unauthorized:
      return 401;
    case RejectionKind::forbidden:
      return 403;
    case RejectionKind::not_found:
      return 404;
    case RejectionKind::conflict:
      return 409;
    case RejectionKind::unprocessable:
      return 422;
  }
  return 500;
}

ApiError from_rejection(const Rejection& rejection) {
  ApiError error;
  error.status = status_for(rejection.kind);
  error.code = rejection.code;
  error.detail = rejection.message;
  if (error.status == 401) error.headers.emplace_back("WWW-Authenticate", "Bearer");
  if (rejection.code == "validation_failed") {
    // The domain's field readers all phrase a failure as "<field>: <what was expected>".
    auto colon = rejection.message.find(": ");
    auto name = std::string_view(rejection.message).substr(0, colon);
    bool identifier =
        colon != std::string::npos && !name.empty() &&
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_.") == std::string_view::npos;
    if (identifier) error.field = std::string(name);
  }
  return error;
}

ApiError validation_failed(std::string_view field, std::string_view expected) {
  return from_rejection(Rejection{RejectionKind::invalid, "validation_failed",
                                  std::string(field) + ": " + std::string(expected)});
}

namespace {
ApiError make(int status, std::string code, std::string detail) {
  ApiError error;
  error.status = status;
  error.code = std::move(code);
  error.detail = std::move(detail);
  return error;
}
}  // namespace

ApiError bad_request(std::string code, std::string detail) {
  return make(400, std::move(code), std::move(detail));
}

ApiError unauthorized(std::string code, std::string detail) {
  ApiError error = make(401, std::move(code), std::move(detail));
  error.headers.emplace_back("WWW-Authenticate", "Bearer");
  return error;
}

ApiError forbidden(std::string code, std::string detail) {
  return make(403, std::move(code), std::move(detail));
}

ApiError not_found(std::string code, std::string detail) {
  return make(404, std::move(code), std::move(detail));
}

ApiError method_not_allowed(const std::vector<std::string>& allowed_methods) {
  std::string allow;
  for (const auto& method : allowed_methods) {
    if (!allow.empty()) allow += ", ";
    allow += method;
  }
  ApiError error = make(405, "method_not_allowed",
                        "This resource does not support that method; allowed: " + allow + ".");
  error.headers.emplace_back("Allow", allow);
  return error;
}

ApiError conflict(std::string code, std::string detail) {
  return make(409, std::move(code), std::move(detail));
}

ApiError unprocessable(std::string code, std::string detail) {
  return make(422, std::move(code), std::move(detail));
}

ApiError payload_too_large(std::string detail) {
  return make(413, "payload_too_large", std::move(detail));
}

ApiError headers_too_large(std::string detail) {
  return make(431, "headers_too_large", std::move(detail));
}

ApiError too_many_requests(int64_t retry_after_seconds, std::string detail) {
  ApiError error = make(429, "rate_limited", std::move(detail));
  error.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds));
  return error;
}

ApiError overloaded(std::string detail) {
  ApiError error = make(503, "overloaded", std::move(detail));
  error.headers.emplace_back("Retry-After", "1");
  return error;
}

ApiError internal_error() {
  return make(500, "internal_error", "An unexpected error occurred; it has been logged.");
}

ApiError unavailable(std::string code, std::string detail) {
  return make(503, std::move(code), std::move(detail));
}

ApiError gone(std::string code, std::string detail) {
  return make(410, std::move(code), std::move(detail));
}

}  // namespace counsel::api
