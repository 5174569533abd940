#include "domain/rejection.hpp"

namespace counsel {

const char* to_string(RejectionKind k) {
  switch (k) {
    case RejectionKind::invalid:
      return "invalid";
    case RejectionKind::unauthorized:
      return "unauthorized";
    case RejectionKind::forbidden:
      return "forbidden";
    case RejectionKind::not_found:
      return "not_found";
    case RejectionKind::conflict:
      return "conflict";
    case RejectionKind::unprocessable:
      return "unprocessable";
  }
  return "invalid";
}

RejectionKind parse_rejection_kind(std::string_view s) {
  if (s == "unauthorized") return RejectionKind::unauthorized;
  if (s == "forbidden") return RejectionKind::forbidden;
  if (s == "not_found") return RejectionKind::not_found;
  if (s == "conflict") return RejectionKind::conflict;
  if (s == "unprocessable") return RejectionKind::unprocessable;
  return RejectionKind::invalid;
}

}  // namespace counsel
