// /api/v1/auth/2fa/*: TOTP two-factor set-up (RFC 6238, what authenticator apps expect).
// Set-up keeps the new secret pending (encrypted) until the holder proves with a code that
// their app has it; only then account.two_factor_enabled enters the log, with the secret
// encrypted and the recovery codes as digests. The codes themselves are shown once.
#include <pqxx/pqxx>

#include "api/handler_support.hpp"
#include "api/two_factor.hpp"
#include "domain/events/envelope.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "infra/crypto/totp.hpp"
#include "infra/random_ids.hpp"
#include "projections/account_gate.hpp"
#include "projections/read_queries.hpp"

namespace counsel::api {

namespace {

constexpr int kRecoveryCodeCount = 10;
constexpr const char* kIssuer = "counsel";

HandlerResult setup(AppContext& app, const HttpRequest&, const PathParams&, const Principal& who) {
  const std::string user_id = who.id.value().str();
  auto creds = with_db(app, [&](pqxx::connection& c) {
    return projections::find_credentials_by_user_id(c, user_id);
  });
  if (!creds) return unexpected(not_found("user_not_found", "Your account is not visible yet."));
  if (creds->two_factor_enabled)
    return unexpected(
        conflict("two_factor_already_enabled", "Two-factor authentication is already enabled."));
  const std::string secret = crypto::new_totp_secret();
  auto key = app.keyring->get_or_create(who.id.value());
  with_db(app, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    // A second set-up replaces the first: only the latest secret can be confirmed.
    tx.exec_params(
        "INSERT INTO identity.two_factor_pending (user_id, secret_enc) VALUES ($1::uuid, $2)"
        " ON CONFLICT (user_id) DO UPDATE SET secret_enc = EXCLUDED.secret_enc,"
        " created_at = now()",
        user_id, crypto::encrypt_field(key, secret, user_id));
    tx.commit();
    return 0;
  });
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "secret");
  json::write_string(w, secret);
  json::key(w, "otpauth_uri");
  json::write_string(
      w, crypto::otpauth_uri(kIssuer, creds->email.empty() ? user_id : creds->email, secret));
  w.EndObject();
  return json_response(200, std::string(sb.GetString(), sb.GetSize()));
}

HandlerResult confirm(AppContext& app, const HttpRequest& req, const PathParams&,
                      const Principal& who) {
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto code = json::get_string(*body, "totp");
  if (!code || code->empty())
    return unexpected(bad_request("invalid_request", "totp (the 6-digit code) is required."));
  const std::string user_id = who.id.value().str();
  auto pending = with_db(app, [&](pqxx::connection& c) -> std::optional<std::string> {
    pqxx::read_transaction tx(c);
    auto rows = tx.exec_params(
        "SELECT secret_enc FROM identity.two_factor_pending WHERE user_id = $1::uuid"
        " AND created_at > now() - interval '1 hour'",
        user_id);
    if (rows.empty()) return std::nullopt;
    return rows[0][0].as<std::string>();
  });
  if (!pending)
    return unexpected(conflict("two_factor_not_set_up",
                               "Start with POST /api/v1/auth/2fa/setup (a set-up lasts an hour)."));
  auto key = app.keyring->get_or_create(who.id.value());
  auto secret = crypto::decrypt_field(key, *pending, user_id);
  if (!secret)
    return unexpected(
        conflict("two_factor_not_set_up", "Start again with /api/v1/auth/2fa/setup."));
  auto step = crypto::verify_totp(*secret, *code, now_utc());
  if (!step)
    return unexpected(
        bad_request("invalid_totp", "The code does not match; check the app's clock."));

  auto codes = crypto::new_recovery_codes(kRecoveryCodeCount);
  rapidjson::StringBuffer data;
  {
    json::Writer w(data);
    w.StartObject();
    json::key(w, "recovery_code_hashes");
    w.StartArray();
    for (const auto& c : codes) json::write_string(w, recovery_code_hash(c));
    w.EndArray();
    json::key(w, "totp_secret");
    json::write_string(w, crypto::encrypt_field(key, *secret, user_id));
    json::key(w, "user_id");
    json::write_string(w, user_id);
    w.EndObject();
  }
  auto cmd = make_command(req, who, "account.enable_two_factor", account_stream(who.id),
                          std::string(data.GetString(), data.GetSize()));
  auto result = run_command(app, cmd);
  if (!result) return unexpected(result.error());
  with_db(app, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("DELETE FROM identity.two_factor_pending WHERE user_id = $1::uuid", user_id);
    tx.commit();
    accept_totp_step(c, user_id, *step);  // the confirming code is spent
    return 0;
  });
  wait_for_read_models(app, result->event_positions);
  if (app.gate)
    with_db(app, [&](pqxx::connection& c) {
      app.gate->refresh(c, user_id);
      return 0;
    });
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "recovery_codes");
  w.StartArray();
  for (const auto& c : codes) json::write_string(w, c);
  w.EndArray();
  w.EndObject();
  auto resp = json_response(200, std::string(sb.GetString(), sb.GetSize()));
  resp.headers.push_back({"Consistency-Token", consistency_token(result->event_positions)});
  return resp;
}

}  // namespace

std::string recovery_code_hash(std::string_view code) {
  return sha256_hex(crypto::normalize_recovery_code(code));
}

bool accept_totp_step(pqxx::connection& c, const std::string& user_id, int64_t step) {
  pqxx::work tx(c);
  auto rows = tx.exec_params(
      "INSERT INTO identity.totp_last_step (user_id, last_step) VALUES ($1::uuid, $2)"
      " ON CONFLICT (user_id) DO UPDATE SET last_step = EXCLUDED.last_step"
      " WHERE identity.totp_last_step.last_step < EXCLUDED.last_step"
      " RETURNING last_step",
      user_id, step);
  tx.commit();
  return !rows.empty();
}

void register_two_factor_routes(Router& router, AppContext& app) {
  router.add("POST", "/api/v1/auth/2fa/setup", wrap_authed(app, setup));
  router.add("POST", "/api/v1/auth/2fa/confirm", wrap_authed(app, confirm));
}

}  // namespace counsel::api
