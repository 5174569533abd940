#pragma once
// Small builders shared by the domain unit tests (no suite lives here).
#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>

#include "domain/ids.hpp"
#include "domain/json.hpp"
#include "domain/time.hpp"
#include "domain/uuid.hpp"

namespace counsel::test {

inline Uuid uuid(std::string_view text) {
  auto u = Uuid::parse(text);
  BOOST_REQUIRE_MESSAGE(u.has_value(), "bad test uuid " << text);
  return *u;
}

// A distinct, valid UUIDv7-looking id per small integer.
inline Uuid nth_uuid(unsigned n, unsigned family = 0) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "0190%04x-0000-7000-8000-%012x", family & 0xFFFF, n);
  return uuid(buf);
}

inline UserId user(unsigned n) {
  return UserId{nth_uuid(n, 1)};
}
inline SessionId session(unsigned n) {
  return SessionId{nth_uuid(n, 2)};
}

inline Timestamp at(std::string_view rfc3339) {
  auto t = parse_rfc3339(rfc3339);
  BOOST_REQUIRE_MESSAGE(t.has_value(), "bad test time " << rfc3339);
  return *t;
}

inline json::Document doc(std::string_view text) {
  json::ParseError error;
  auto d = json::parse(text, &error);
  BOOST_REQUIRE_MESSAGE(d.has_value(), "bad test JSON: " << error.message << " in " << text);
  return std::move(*d);
}

}  // namespace counsel::test
