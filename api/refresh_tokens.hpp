#pragma once
// Rotating refresh tokens (identity.refresh_tokens). A token is 32 random bytes shown to the
// client once, as hex; only its SHA-256 is stored, so a database leak yields nothing usable.
// Every login starts a family; each refresh spends the presented token and issues the next one
// of the same family. A spent token presented again means two parties hold the family (theft,
// or a replayed request), so the whole family is revoked and both must log in again.
#include <pqxx/connection>

#include <string>
#include <string_view>

namespace counsel::api::refresh_tokens {

// Longer input is never one of ours; checked before hashing or touching the database.
inline constexpr size_t kMaxPresentedLength = 256;

// A fresh token in a new family for `user_id`, valid for `ttl_seconds`.
std::string issue_new_family(pqxx::connection& conn, const std::string& user_id, int ttl_seconds);

enum class Outcome {
  rotated,  // `token` is the successor, `user_id` its owner
  invalid,  // unknown, expired or revoked
  reused    // already spent: its family is revoked now
};
struct Rotation {
  Outcome outcome = Outcome::invalid;
  std::string user_id;
  std::string token;
};

// Spends `presented` and issues its successor, in one transaction holding the row lock, so two
// concurrent refreshes of one token cannot both succeed (the second sees it spent: reuse).
Rotation rotate(pqxx::connection& conn, std::string_view presented, int ttl_seconds);

// Revokes the family of `presented` if it belongs to `user_id` (anything else is ignored:
// logout must not reveal whether a token exists).
void revoke_family_of(pqxx::connection& conn, std::string_view presented,
                      const std::string& user_id);
// Revokes every family of the user (logout everywhere, password change, suspension).
void revoke_all(pqxx::connection& conn, const std::string& user_id);

}  // namespace counsel::api::refresh_tokens
