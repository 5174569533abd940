// /api/v1/auth/* and /api/v1/me, /api/v1/users/{id}: registration, login, token refresh and
// logout, password change, identity reads.
#include <pqxx/pqxx>

#include <thread>

#include "api/handler_support.hpp"
#include "api/refresh_tokens.hpp"
#include "domain/aggregates/field_rules.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "infra/crypto/jwt.hpp"
#include "infra/crypto/password_hasher.hpp"
#include "infra/logging.hpp"
#include "infra/random_ids.hpp"
#include "projections/read_queries.hpp"

namespace counsel::api {
namespace {

using fields::utf8_length;

// RFC 5321 caps an address at 254 characters.
bool plausible_email(std::string_view e) {
  return e.size() >= 3 && e.size() <= 254 && fields::plausible_email(e);
}

std::string lower_trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string user_json(std::string_view id, std::string_view email, std::string_view role,
                      std::string_view display_name) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "id");
  json::write_string(w, id);
  json::key(w, "email");
  json::write_string(w, email);
  json::key(w, "role");
  json::write_string(w, role);
  json::key(w, "display_name");
  json::write_string(w, display_name);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
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
  auto email_raw = json::get_string(*body, "email");
  auto password = json::get_string(*body, "password");
  auto role_text = json::get_string(*body, "role").value_or("client");
  auto display = json::get_string(*body, "display_name");
  if (!email_raw) return unexpected(bad_request("invalid_email", "email is required."));
  std::string email = lower_trim(*email_raw);
  if (!plausible_email(email))
    return unexpected(bad_request("invalid_email", "email is not a valid address."));
  if (!password) return unexpected(bad_request("invalid_password", "password is required."));
  auto plen = utf8_length(*password);
  if (plen < 8 || plen > 64)
    return unexpected(
        bad_request("invalid_password", "password must be between 8 and 64 characters."));
  if (role_text != "client" && role_text != "counselor")
    return unexpected(bad_request("invalid_role", "role must be 'client' or 'counselor'."));
  std::string display_name =
      display ? std::string(*display) : std::string(email.substr(0, email.find('@')));
  if (display_name.empty() || utf8_length(display_name) > 100)
    return unexpected(
        bad_request("invalid_display_name", "display_name must be 1 to 100 characters."));

  std::string hash = crypto::email_hash(email);
  // A retried registration (same Idempotency-Key and email, e.g. after a 503 whose command went
  // through later) names the same user, so it finds its own claim and dedupes to the first
  // outcome instead of answering email_taken.
  auto retry_key = idempotency_key(req);
  UserId user{retry_key ? uuid_from_text("register|" + std::string(*retry_key) + "|" + hash)
                        : new_uuid_v7()};
  // Reserve the email before the command: the unique key makes concurrent registrations of
  // one address race in PostgreSQL, not in the log.
  bool claimed = with_db(app, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO identity.email_claims(email_hash, user_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING",
        hash, user.value().str());
    auto owner = tx.exec_params(
        "SELECT user_id::text FROM identity.email_claims WHERE email_hash = $1", hash);
    tx.commit();
    return !owner.empty() && owner[0][0].as<std::string>() == user.value().str();
  });
  if (!claimed)
    return unexpected(conflict("email_taken", "An account with this email already exists."));

  auto password_hash = app.hasher->hash(*password);
  auto key = app.keyring->get_or_create(user.value());
  std::string subject = user.value().str();
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "display_name");
  json::write_string(w, crypto::encrypt_field(key, display_name, subject));
  json::key(w, "email");
  json::write_string(w, crypto::encrypt_field(key, email, subject));
  json::key(w, "email_hash");
  json::write_string(w, hash);
  json::key(w, "password_hash");
  json::write_string(w, crypto::encrypt_field(key, password_hash, subject));
  json::key(w, "role");
  json::write_string(w, role_text);
  json::key(w, "user_id");
  json::write_string(w, subject);
  w.EndObject();

  Principal self{user, *parse_role(role_text)};
  auto cmd = make_command(req, self, "account.register", account_stream(user),
                          std::string(sb.GetString(), sb.GetSize()));
  auto result = run_command(app, cmd);
  if (!result) {
    if (result.error().status < 500) {
      with_db(app, [&](pqxx::connection& c) {
        pqxx::work tx(c);
        tx.exec_params("DELETE FROM identity.email_claims WHERE email_hash = $1 AND user_id = $2",
                       hash, subject);
        tx.commit();
        return 0;
      });
    }
    return unexpected(result.error());
  }
  wait_for_read_models(app, result->event_positions);
  auto resp = json_response(201, user_json(subject, email, role_text, display_name));
  resp.headers.push_back({"Location", "/api/v1/users/" + subject});
  resp.headers.push_back({"Consistency-Token", consistency_token(result->event_positions)});
  return resp;
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
    return unexpected(unauthorized("invalid_credentials", "Email or password is wrong."));
  if (creds->status != "active")
    return unexpected(forbidden("account_suspended", "This account is suspended."));

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
  auto next_length = utf8_length(*next);
  if (next_length < 8 || next_length > 64)
    return unexpected(
        bad_request("invalid_password", "new_password must be between 8 and 64 characters."));
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

  auto password_hash = app.hasher->hash(*next);
  auto key = app.keyring->get_or_create(who.id.value());
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "password_hash");
  json::write_string(w, crypto::encrypt_field(key, password_hash, user_id));
  json::key(w, "user_id");
  json::write_string(w, user_id);
  w.EndObject();
  auto cmd = make_command(req, who, "account.change_password", account_stream(who.id),
                          std::string(sb.GetString(), sb.GetSize()));
  auto result = run_command(app, cmd);
  if (!result) return unexpected(result.error());
  // Every session started with the old password ends: whoever knew it must not stay in.
  with_db(app, [&](pqxx::connection& c) {
    refresh_tokens::revoke_all(c, user_id);
    return 0;
  });
  // The next login (on this api) must already see the new hash.
  wait_for_read_models(app, result->event_positions);
  auto resp = no_content();
  resp.headers.push_back({"Consistency-Token", consistency_token(result->event_positions)});
  return resp;
}

HandlerResult me(AppContext& app, const HttpRequest& req, const PathParams&, const Principal& who) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto user = with_db(app, [&](pqxx::connection& c) {
    return projections::find_user_by_id(c, who.id.value().str());
  });
  if (!user) return unexpected(not_found("user_not_found", "Your account is not visible yet."));
  return json_response(200, *user);
}

HandlerResult get_user(AppContext& app, const HttpRequest& req, const PathParams& params,
                       const Principal& who) {
  auto id = path_user_id(params, "id", "user_not_found");
  if (!id) return unexpected(id.error());
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  bool full = who.id == *id || who.role == Role::admin;
  auto user = with_db(app, [&](pqxx::connection& c) {
    return full ? projections::find_user_by_id(c, id->value().str())
                : projections::find_public_user(c, id->value().str());
  });
  if (!user) return unexpected(not_found("user_not_found", "No such user."));
  return json_response(200, *user);
}

}  // namespace

void register_auth_routes(Router& router, AppContext& app) {
  router.add("POST", "/api/v1/auth/register", wrap(app, register_user));
  router.add("POST", "/api/v1/auth/login", wrap(app, login));
  router.add("POST", "/api/v1/auth/refresh", wrap(app, refresh));
  router.add("POST", "/api/v1/auth/logout", wrap_authed(app, logout));
  router.add("POST", "/api/v1/auth/password", wrap_authed(app, change_password));
  router.add("GET", "/api/v1/me", wrap_authed(app, me));
  router.add("GET", "/api/v1/users/{id}", wrap_authed(app, get_user));
}

}  // namespace counsel::api
