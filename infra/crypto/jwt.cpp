#include "infra/crypto/jwt.hpp"

#include <sodium.h>

#include <array>
#include <stdexcept>

#include "domain/json.hpp"
#include "infra/crypto/sodium_init.hpp"

namespace counsel::crypto {
namespace {

constexpr std::string_view kHeader = R"({"alg":"HS256","typ":"JWT"})";
constexpr auto kClockSkew = std::chrono::seconds(60);
constexpr const char* kRegistered[] = {"sub", "role", "iat", "exp", "jti", "nbf", "iss", "aud"};

bool is_registered(std::string_view name) {
  for (const char* registered : kRegistered) {
    if (name == registered) return true;
  }
  return false;
}

std::string base64url(const unsigned char* data, size_t size) {
  const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_encoded_len(size, variant), '\0');
  sodium_bin2base64(out.data(), out.size(), data, size, variant);
  out.resize(out.size() - 1);  // drop the terminating NUL libsodium writes
  return out;
}

std::string base64url(std::string_view text) {
  return base64url(reinterpret_cast<const unsigned char*>(text.data()), text.size());
}

std::optional<std::string> from_base64url(std::string_view text) {
  std::string out(text.size() * 3 / 4 + 3, '\0');
  size_t length = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &length, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return std::nullopt;
  }
  if (end != text.data() + text.size()) return std::nullopt;
  out.resize(length);
  return out;
}

using Mac = std::array<unsigned char, crypto_auth_hmacsha256_BYTES>;

// HMAC-SHA-256 with a key of any length (the one-shot API wants exactly 32 bytes).
Mac hmac_sha256(std::string_view secret, std::string_view message) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(secret.data()),
                              secret.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(message.data()),
                                message.size());
  Mac mac;
  crypto_auth_hmacsha256_final(&state, mac.data());
  sodium_memzero(&state, sizeof state);
  return mac;
}

int64_t to_numeric_date(Timestamp t) {
  return std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
}

// Keeps the conversion to milliseconds from overflowing (year ±3 million is plenty).
bool plausible_numeric_date(int64_t seconds) {
  constexpr int64_t kLimit = int64_t{100'000'000'000'000};
  return seconds > -kLimit && seconds < kLimit;
}

Timestamp from_numeric_date(int64_t seconds) {
  return Timestamp(std::chrono::seconds(seconds));
}

JwtError error(JwtErrorKind kind, std::string message) {
  return {kind, std::move(message)};
}

}  // namespace

std::string sign_jwt(const JwtClaims& claims, std::string_view secret) {
  ensure_sodium();
  if (secret.empty()) throw std::invalid_argument("JWT secret must not be empty");
  rapidjson::StringBuffer buffer;
  json::Writer writer(buffer);
  writer.StartObject();
  json::key(writer, "sub");
  json::write_string(writer, claims.sub);
  json::key(writer, "role");
  json::write_string(writer, claims.role);
  json::key(writer, "iat");
  writer.Int64(to_numeric_date(claims.iat));
  json::key(writer, "exp");
  writer.Int64(to_numeric_date(claims.exp));
  json::key(writer, "jti");
  json::write_string(writer, claims.jti);
  for (const auto& [name, value] : claims.extra) {
    if (is_registered(name)) continue;
    json::key(writer, name);
    json::write_string(writer, value);
  }
  writer.EndObject();

  std::string token = base64url(kHeader);
  token += '.';
  token += base64url(std::string_view(buffer.GetString(), buffer.GetSize()));
  const Mac mac = hmac_sha256(secret, token);
  token += '.';
  token += base64url(mac.data(), mac.size());
  return token;
}

Expected<JwtClaims, JwtError> verify_jwt(std::string_view token, std::string_view secret,
                                         Timestamp now) {
  ensure_sodium();
  if (secret.empty()) return unexpected(error(JwtErrorKind::bad_signature, "no secret configured"));
  if (token.empty() || token.size() > kMaxJwtLength)
    return unexpected(error(JwtErrorKind::malformed, "token length out of bounds"));

  const size_t first_dot = token.find('.');
  const size_t second_dot =
      first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos ||
      token.find('.', second_dot + 1) != std::string_view::npos) {
    return unexpected(error(JwtErrorKind::malformed, "a JWT has exactly three parts"));
  }
  const std::string_view header_part = token.substr(0, first_dot);
  const std::string_view payload_part = token.substr(first_dot + 1, second_dot - first_dot - 1);
  const std::string_view signature_part = token.substr(second_dot + 1);
  const std::string_view signed_part = token.substr(0, second_dot);

  auto header_text = from_base64url(header_part);
  if (!header_text) return unexpected(error(JwtErrorKind::malformed, "header is not base64url"));
  auto header = json::parse(*header_text, nullptr, 4);
  if (!header || !header->IsObject())
    return unexpected(error(JwtErrorKind::malformed, "header is not a JSON object"));
  const auto alg = json::get_string(*header, "alg");
  if (!alg || *alg != "HS256")
    return unexpected(error(JwtErrorKind::bad_algorithm, "only HS256 is accepted"));
  if (header->HasMember("crit"))
    return unexpected(error(JwtErrorKind::bad_algorithm, "critical header extensions unsupported"));
  if (const auto typ = json::get_string(*header, "typ");
      header->HasMember("typ") && (!typ || (*typ != "JWT" && *typ != "jwt"))) {
    return unexpected(error(JwtErrorKind::malformed, "typ must be JWT"));
  }

  auto signature = from_base64url(signature_part);
  if (!signature || signature->size() != crypto_auth_hmacsha256_BYTES)
    return unexpected(error(JwtErrorKind::bad_signature, "signature has the wrong form"));
  const Mac expected = hmac_sha256(secret, signed_part);
  if (sodium_memcmp(expected.data(), signature->data(), expected.size()) != 0)
    return unexpected(error(JwtErrorKind::bad_signature, "signature does not match"));

  // Only a token we signed gets this far, but parse defensively all the same.
  auto payload_text = from_base64url(payload_part);
  if (!payload_text) return unexpected(error(JwtErrorKind::malformed, "payload is not base64url"));
  auto payload = json::parse(*payload_text, nullptr, 4);
  if (!payload || !payload->IsObject())
    return unexpected(error(JwtErrorKind::malformed, "payload is not a JSON object"));

  const auto sub = json::get_string(*payload, "sub");
  const auto role = json::get_string(*payload, "role");
  const auto iat = json::get_int(*payload, "iat");
  const auto exp = json::get_int(*payload, "exp");
  const auto jti = json::get_string(*payload, "jti");
  if (!sub || !role || !iat || !exp || !jti)
    return unexpected(error(JwtErrorKind::malformed, "a required claim is missing"));
  if (!plausible_numeric_date(*iat) || !plausible_numeric_date(*exp))
    return unexpected(error(JwtErrorKind::malformed, "iat/exp out of range"));

  JwtClaims claims;
  claims.sub = std::string(*sub);
  claims.role = std::string(*role);
  claims.iat = from_numeric_date(*iat);
  claims.exp = from_numeric_date(*exp);
  claims.jti = std::string(*jti);

  if (now >= claims.exp) return unexpected(error(JwtErrorKind::expired, "token has expired"));
  if (claims.iat > now + kClockSkew)
    return unexpected(error(JwtErrorKind::not_yet_valid, "token issued in the future"));
  if (payload->HasMember("nbf")) {
    const auto nbf = json::get_int(*payload, "nbf");
    if (!nbf || !plausible_numeric_date(*nbf))
      return unexpected(error(JwtErrorKind::malformed, "nbf must be a date"));
    if (from_numeric_date(*nbf) > now + kClockSkew)
      return unexpected(error(JwtErrorKind::not_yet_valid, "token not valid yet"));
  }

  for (auto it = payload->MemberBegin(); it != payload->MemberEnd(); ++it) {
    const std::string_view name(it->name.GetString(), it->name.GetStringLength());
    if (is_registered(name) || !it->value.IsString()) continue;
    claims.extra.emplace_back(std::string(name),
                              std::string(it->value.GetString(), it->value.GetStringLength()));
  }
  return claims;
}

}  // namespace counsel::crypto
