#include "api/refresh_tokens.hpp"

#include <pqxx/pqxx>

#include "domain/events/envelope.hpp"
#include "infra/random_ids.hpp"

namespace counsel::api::refresh_tokens {
namespace {

constexpr size_t kTokenBytes = 32;

std::string insert_token(pqxx::work& tx, const std::string& user_id, const std::string& family,
                         int ttl_seconds) {
  std::string token = random_hex(kTokenBytes);
  tx.exec_params0(
      "INSERT INTO identity.refresh_tokens (token_hash, user_id, family, expires_at)"
      " VALUES ($1, $2::uuid, $3::uuid, now() + make_interval(secs => $4))",
      sha256_hex(token), user_id, family, ttl_seconds);
  return token;
}

}  // namespace

std::string issue_new_family(pqxx::connection& conn, const std::string& user_id, int ttl_seconds) {
  pqxx::work tx(conn);
  auto token = insert_token(tx, user_id, new_uuid_v7().str(), ttl_seconds);
  tx.commit();
  return token;
}

Rotation rotate(pqxx::connection& conn, std::string_view presented, int ttl_seconds) {
  Rotation out;
  if (presented.empty() || presented.size() > kMaxPresentedLength) return out;
  pqxx::work tx(conn);
  const auto rows = tx.exec_params(
      "SELECT user_id::text, family::text, revoked_at IS NOT NULL, used_at IS NOT NULL,"
      " expires_at <= now()"
      " FROM identity.refresh_tokens WHERE token_hash = $1 FOR UPDATE",
      sha256_hex(presented));
  if (rows.empty()) return out;
  const auto& row = rows[0];
  const std::string user_id = row[0].c_str();
  const std::string family = row[1].c_str();
  const bool revoked = row[2].as<bool>(), used = row[3].as<bool>(), expired = row[4].as<bool>();
  if (revoked || expired) return out;
  if (used) {
    tx.exec_params0(
        "UPDATE identity.refresh_tokens SET revoked_at = now()"
        " WHERE family = $1::uuid AND revoked_at IS NULL",
        family);
    tx.commit();
    out.outcome = Outcome::reused;
    out.user_id = user_id;
    return out;
  }
  tx.exec_params0("UPDATE identity.refresh_tokens SET used_at = now() WHERE token_hash = $1",
                  sha256_hex(presented));
  out.token = insert_token(tx, user_id, family, ttl_seconds);
  tx.commit();
  out.outcome = Outcome::rotated;
  out.user_id = user_id;
  return out;
}

void revoke_family_of(pqxx::connection& conn, std::string_view presented,
                      const std::string& user_id) {
  if (presented.empty() || presented.size() > kMaxPresentedLength) return;
  pqxx::work tx(conn);
  tx.exec_params0(
      "UPDATE identity.refresh_tokens SET revoked_at = now()"
      " WHERE revoked_at IS NULL AND family = (SELECT family FROM identity.refresh_tokens"
      " WHERE token_hash = $1 AND user_id = $2::uuid)",
      sha256_hex(presented), user_id);
  tx.commit();
}

void revoke_all(pqxx::connection& conn, const std::string& user_id) {
  pqxx::work tx(conn);
  tx.exec_params0(
      "UPDATE identity.refresh_tokens SET revoked_at = now()"
      " WHERE user_id = $1::uuid AND revoked_at IS NULL",
      user_id);
  tx.commit();
}

}  // namespace counsel::api::refresh_tokens
