#pragma once
#include <string>

namespace counsel {

// Why a command was refused. Expected failures are values, not exceptions; the api maps
// `kind` to an HTTP status in exactly one place (api/problem.cpp).
enum class RejectionKind {
  invalid,       // malformed input (400)
  unauthorized,  // 401
  forbidden,     // 403
  not_found,     // 404
  conflict,      // 409: state does not allow it (slot taken, invalid transition, email taken)
  unprocessable  // 422: well-formed but breaks a business rule (outside availability, too soon)
};

struct Rejection {
  RejectionKind kind = RejectionKind::invalid;
  std::string code;     // stable machine-readable code, e.g. "slot_unavailable"
  std::string message;  // human-readable detail
};

const char* to_string(RejectionKind k);
RejectionKind parse_rejection_kind(std::string_view s);

}  // namespace counsel
