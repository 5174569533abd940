// /api/v1/auth/*: registration, login, token refresh and logout, password change. (/api/v1/me
// and /api/v1/users/{id} are in profile_handlers.cpp.)
#include <pqxx/pqxx>

#include <thread>

#include "api/account_passwords.hpp"
#include "api/account_registration.hpp"
#include "api/handler_support.hpp"
#include "api/refresh_tokens.hpp"
#include "api/two_factor.hpp"
#include "domain/aggregates/account.hpp"
#include "domain/aggregates/field_rules.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "infra/crypto/jwt.hpp"
#include "infra/crypto/password_hasher.hpp"
#include "infra/crypto/totp.hpp"
#include "infra/logging.hpp"
#include "infra/random_ids.hpp"
#include "projections/read_queries.hpp"

namespace counsel::api {
namespace {

using fields::utf8_length;

std::string lower_trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string sign_access_token(const AppContext& app, const std::string& user_id,
                              const std::string& role) {
  crypto::JwtClaims claims;
  claims.sub = user_id;
  claims.role = role;
  claims.iat = now_utc();
  claims.exp = claims.iat + std::chrono::seconds(app.config.access_token_ttl_seconds);
  claims.jti = new_uuid_v7().str();
  return crypto::sign_jwt(claims, app.jwt_secret);
}

// {access_token, token_type, expires_in, refresh_token}, left open for more members.
void write_token_members(json::Writer& w, const AppContext& app, const std::string& access,
                         const std::string& refresh) {
  json::key(w, "access_token");
  json::write_string(w, access);
  json::key(w, "token_type");
  json::write_string(w, "Bearer");
  json::key(w, "expires_in");
  w.Int(app.config.access_token_ttl_seconds);
  json::key(w, "refresh_token");
  json::write_string(w, refresh);
}

HttpResponse no_content() {
  return json_response(204, "");
}

HandlerResult register_user(AppContext& app, const HttpRequest& req, const PathParams&) {
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto role_text = json::get_string(*body, "role").value_or("client");
  if (role_text != "client" && role_text != "counselor")
    return unexpected(bad_request("invalid_role", "role must be 'client' or 'counselor'."));
  auto account = read_new_account(*body, *parse_role(role_text));
  if (!account) return unexpected(account.error());
  // Self-registration: the new user is the actor of their own registration.
  auto created = register_account(app, req, *account, std::nullopt);
  if (!created) return unexpected(created.error());
  return registered_response(*created);
}

// Appends a sign-in record to the account stream. Failures are recorded by the system (the
// caller has not proven who they are); a success by the account holder.
Expected<commands::CommandResult, ApiError> record_sign_in(
    AppContext& app, const HttpRequest& req, const projections::CredentialsView& who,
    std::optional<account::LoginFailure> failure, account::SecondFactor factor) {
  auto user = Uuid::parse(who.user_id);
  auto role = parse_role(who.role);
  if (!user || !role)
    return unexpected(unauthorized("invalid_credentials", "Email or password is wrong."));
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  if (failure) {
    json::key(w, "reason");
    json::write_string(w, account::to_string(*failure));
  } else {
    json::key(w, "second_factor");
    json::write_string(w, account::to_string(factor));
  }
  json::key(w, "user_id");
  json::write_string(w, who.user_id);
  w.EndObject();
  Principal actor = failure ? Principal{UserId{}, Role::system} : Principal{UserId{*user}, *role};
  auto cmd =
      make_command(req, actor, failure ? "account.record_login_failure" : "account.record_login",
                   account_stream(UserId{*user}), std::string(sb.GetString(), sb.GetSize()));
  return run_command(app, cmd);
}

// A refused sign-in: recorded when possible, but an unreachable log must not turn a wrong
// password into a 503 (nor reveal anything): the answer is the refusal either way.
ApiError refuse_sign_in(AppContext& app, const HttpRequest& req,
                        const projections::CredentialsView& who, account::LoginFailure why,
                        ApiError answer) {
  auto recorded = record_sign_in(app, req, who, why, account::SecondFactor::none);
  if (!recorded)
    logging::warn("auth", "could not record a failed sign-in: " + recorded.error().code);
  return answer;
}

// The second factor of an account with two-factor enabled: a TOTP code (each accepted once) or
// a recovery code (spent through the aggregate, so it works exactly once).
Expected<account::SecondFactor, ApiError> check_second_factor(
    AppContext& app, const HttpRequest& req, const json::Value& body,
    const projections::CredentialsView& creds) {
  auto totp = json::get_string(body, "totp");
  auto recovery = json::get_string(body, "recovery_code");
  if ((!totp || totp->empty()) && (!recovery || recovery->empty()))
    return unexpected(refuse_sign_in(
        app, req, creds, account::LoginFailure::totp_required,
        unauthorized("totp_required",
                     "This account uses two-factor authentication: send totp (or a recovery_code) "
                     "with email and password.")));
  auto invalid = [&] {
    return unexpected(refuse_sign_in(
        app, req, creds, account::LoginFailure::invalid_totp,
        unauthorized("invalid_totp", "The two-factor code is wrong, expired or already used.")));
  };
  auto user = Uuid::parse(creds.user_id);
  if (!user) return invalid();
  if (totp && !totp->empty()) {
    auto key = app.keyring->find(*user);
    auto secret =
        key ? crypto::decrypt_field(*key, creds.totp_secret_enc, creds.user_id) : std::nullopt;
    if (!secret) return invalid();
    auto step = crypto::verify_totp(*secret, *totp, now_utc());
    if (!step) return invalid();
    bool fresh = with_db(
        app, [&](pqxx::connection& c) { return accept_totp_step(c, creds.user_id, *step); });
    if (!fresh) return invalid();
    return account::SecondFactor::totp;
  }
  if (recovery->size() > 64) return invalid();
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "code_hash");
  json::write_string(w, recovery_code_hash(*recovery));
  json::key(w, "user_id");
  json::write_string(w, creds.user_id);
  w.EndObject();
  auto cmd = make_command(req, Principal{UserId{}, Role::system}, "account.use_recovery_code",
                          account_stream(UserId{*user}), std::string(sb.GetString(), sb.GetSize()));
  auto spent = run_command(app, cmd);
  if (!spent) {
    if (spent.error().status >= 500) return unexpected(spent.error());
    return invalid();
  }
  return account::SecondFactor::recovery_code;
}

HandlerResult login(AppContext& app, const HttpRequest& req, const PathParams&) {
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto email_raw = json::get_string(*body, "email");
  auto password = json::get_string(*body, "password");
  if (!email_raw || !password)
    return unexpected(bad_request("invalid_request", "email and password are required."));
  if (password->size() > 1024)
    return unexpected(unauthorized("invalid_credentials", "Email or password is wrong."));
  std::string hash = crypto::email_hash(lower_trim(*email_raw));

  auto find = [&] {
    return with_db(app, [&](pqxx::connection& c) {
      return projections::find_credentials_by_email_hash(c, hash);
    });
  };
  auto creds = find();
  if (!creds) {
    // Registered a moment ago but not yet projected? The claim says the account exists.
    bool claimed = with_db(app, [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      return !tx.exec_params("SELECT 1 FROM identity.email_claims WHERE email_hash = $1", hash)
                  .empty();
    });
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(app.config.consistency_wait_ms);
    while (claimed && !creds && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      creds = find();
    }
  }
  if (!creds) {
    app.hasher->burn_time(*password);  // same cost as a real check: no account enumeration
    return unexpected(unauthorized("invalid_credentials", "Email or password is wrong."));
  }
  if (!app.hasher->verify(creds->password_hash, *password))
    return unexpected(
        refuse_sign_in(app, req, *creds, account::LoginFailure::invalid_password,
                       unauthorized("invalid_credentials", "Email or password is wrong.")));
  if (creds->status != "active")
    return unexpected(refuse_sign_in(app, req, *creds, account::LoginFailure::suspended,
                                     forbidden("account_suspended", "This account is suspended.")));
  auto factor = account::SecondFactor::none;
  if (creds->two_factor_enabled) {
    auto checked = check_second_factor(app, req, *body, *creds);
    if (!checked) return unexpected(checked.error());
    factor = *checked;
  }
  // The sign-in is part of the audit stream: no record, no tokens.
  auto recorded = record_sign_in(app, req, *creds, std::nullopt, factor);
  if (!recorded) return unexpected(recorded.error());

  auto token = sign_access_token(app, creds->user_id, creds->role);
  auto refresh = with_db(app, [&](pqxx::connection& c) {
    return refresh_tokens::issue_new_family(c, creds->user_id,
                                            app.config.refresh_token_ttl_seconds);
  });

  auto user = with_db(
      app, [&](pqxx::connection& c) { return projections::find_user_by_id(c, creds->user_id); });
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  write_token_members(w, app, token, refresh);
  json::key(w, "user");
  if (user) {
    w.RawValue(user->data(), user->size(), rapidjson::kObjectType);
  } else {
    w.Null();
  }
  w.EndObject();
  return json_response(200, std::string(sb.GetString(), sb.GetSize()));
}

HandlerResult refresh(AppContext& app, const HttpRequest& req, const PathParams&) {
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto presented = json::get_string(*body, "refresh_token");
  if (!presented || presented->empty())
    return unexpected(bad_request("invalid_request", "refresh_token is required."));
  auto rotation = with_db(app, [&](pqxx::connection& c) {
    return refresh_tokens::rotate(c, *presented, app.config.refresh_token_ttl_seconds);
  });
  if (rotation.outcome == refresh_tokens::Outcome::reused) {
    // Worth an operator's attention: either a stolen token or a badly behaved client.
    logging::warn("auth",
                  "refresh token reused; revoked its family (user " + rotation.user_id + ")");
    return unexpected(unauthorized("refresh_token_reused",
                                   "This refresh token was already used; every token of its "
                                   "session is revoked. Log in again."));
  }
  if (rotation.outcome != refresh_tokens::Outcome::rotated)
    return unexpected(
        unauthorized("invalid_refresh_token", "The refresh token is unknown, expired or revoked."));
  auto creds = with_db(app, [&](pqxx::connection& c) {
    return projections::find_credentials_by_user_id(c, rotation.user_id);
  });
  if (!creds || creds->status != "active") {
    // A suspended (or vanished) account keeps no way back in through its old sessions.
    with_db(app, [&](pqxx::connection& c) {
      refresh_tokens::revoke_all(c, rotation.user_id);
      return 0;
    });
    if (!creds)
      return unexpected(unauthorized("invalid_refresh_token",
                                     "The refresh token is unknown, expired or revoked."));
    return unexpected(forbidden("account_suspended", "This account is suspended."));
  }
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  write_token_members(w, app, sign_access_token(app, creds->user_id, creds->role), rotation.token);
  w.EndObject();
  return json_response(200, std::string(sb.GetString(), sb.GetSize()));
}

HandlerResult logout(AppContext& app, const HttpRequest& req, const PathParams&,
                     const Principal& who) {
  std::optional<std::string> presented;
  if (!req.body.empty()) {
    auto body = parse_object_body(req);
    if (!body) return unexpected(body.error());
    if (body->HasMember("refresh_token")) {
      auto token = json::get_string(*body, "refresh_token");
      if (!token || token->empty())
        return unexpected(
            bad_request("invalid_request", "refresh_token must be a non-empty string."));
      presented = std::string(*token);
    }
  }
  const std::string user_id = who.id.value().str();
  with_db(app, [&](pqxx::connection& c) {
    if (presented) {
      refresh_tokens::revoke_family_of(c, *presented, user_id);
    } else {
      refresh_tokens::revoke_all(c, user_id);
    }
    return 0;
  });
  return no_content();
}

HandlerResult change_password(AppContext& app, const HttpRequest& req, const PathParams&,
                              const Principal& who) {
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto current = json::get_string(*body, "current_password");
  auto next = json::get_string(*body, "new_password");
  if (!current || !next)
    return unexpected(
        bad_request("invalid_request", "current_password and new_password are required."));
  if (auto ok = check_new_password("new_password", *next); !ok) return unexpected(ok.error());
  const std::string user_id = who.id.value().str();
  auto creds = with_db(app, [&](pqxx::connection& c) {
    return projections::find_credentials_by_user_id(c, user_id);
  });
  auto wrong = [] {
    return unexpected(unauthorized("invalid_credentials", "The current password is wrong."));
  };
  if (current->size() > 1024) return wrong();
  if (!creds || creds->password_hash.empty()) {
    app.hasher->burn_time(*current);
    return wrong();
  }
  if (!app.hasher->verify(creds->password_hash, *current)) return wrong();

  auto result = run_command(app, password_change_command(app, req, who, who.id, *next));
  if (!result) return unexpected(result.error());
  return password_changed(app, who.id, *result);
}

}  // namespace

void register_auth_routes(Router& router, AppContext& app) {
  router.add("POST", "/api/v1/auth/register", wrap(app, register_user));
  router.add("POST", "/api/v1/auth/login", wrap(app, login));
  router.add("POST", "/api/v1/auth/refresh", wrap(app, refresh));
  router.add("POST", "/api/v1/auth/logout", wrap_authed(app, logout));
  router.add("POST", "/api/v1/auth/password", wrap_authed(app, change_password));
}

}  // namespace counsel::api
