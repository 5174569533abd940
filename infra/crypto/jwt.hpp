#pragma once
// Access tokens: compact JWS with HS256 only (RFC 7519 / 7515). The algorithm is fixed by us,
// never taken from the token, so "alg": "none" or RS/HS confusion cannot be used against us.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/expected.hpp"
#include "domain/time.hpp"

namespace counsel::crypto {

inline constexpr size_t kMaxJwtLength = 4096;

struct JwtClaims {
  std::string sub;   // the user's uuid
  std::string role;  // "client" | "counselor" | "admin" | "compliance"
  Timestamp iat{};   // encoded as NumericDate (whole seconds; sub-second part dropped)
  Timestamp exp{};
  std::string jti;
  // Further string-valued claims, e.g. {"sid", "<refresh family>"}. Names must not collide
  // with the registered ones above (such entries are ignored on signing).
  std::vector<std::pair<std::string, std::string>> extra;
};

enum class JwtErrorKind {
  malformed,      // not three base64url parts, bad JSON, missing/mistyped claim, too long
  bad_algorithm,  // header alg is not exactly "HS256" (e.g. "none"), or has "crit"
  bad_signature,
  expired,       // now >= exp
  not_yet_valid  // nbf in the future, or iat too far in the future
};

struct JwtError {
  JwtErrorKind kind = JwtErrorKind::malformed;
  std::string message;  // safe to log; never contains the token or the secret
};

// Throws std::invalid_argument for an empty secret.
std::string sign_jwt(const JwtClaims& claims, std::string_view secret);

// Checks, in order: length and shape, header (alg HS256 exactly), signature (constant time),
// then claims (sub, role, iat, exp, jti present with the right types; exp > now; nbf <= now;
// iat not more than a minute ahead of now).
Expected<JwtClaims, JwtError> verify_jwt(std::string_view token, std::string_view secret,
                                         Timestamp now);

}  // namespace counsel::crypto
