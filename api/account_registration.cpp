#include "api/account_registration.hpp"

#include <pqxx/pqxx>

#include "api/account_passwords.hpp"
#include "domain/aggregates/field_rules.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "infra/crypto/password_hasher.hpp"
#include "infra/random_ids.hpp"

namespace counsel::api {
namespace {

std::string lower_trim(std::string_view s) {
  std::string out = fields::trim(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void release_claim(AppContext& app, const std::string& email_hash, const std::string& user) {
  with_db(app, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("DELETE FROM identity.email_claims WHERE email_hash = $1 AND user_id = $2",
                   email_hash, user);
    tx.commit();
    return 0;
  });
}

}  // namespace

Expected<NewAccount, ApiError> read_new_account(const json::Value& body, Role role) {
  auto email_raw = json::get_string(body, "email");
  auto password = json::get_string(body, "password");
  auto display = json::get_string(body, "display_name");
  if (!email_raw) return unexpected(bad_request("invalid_email", "email is required."));
  NewAccount a;
  a.role = role;
  a.email = lower_trim(*email_raw);
  // RFC 5321 caps an address at 254 characters.
  if (a.email.size() < 3 || a.email.size() > 254 || !fields::plausible_email(a.email))
    return unexpected(bad_request("invalid_email", "email is not a valid address."));
  if (!password) return unexpected(bad_request("invalid_password", "password is required."));
  if (auto ok = check_new_password("password", *password); !ok) return unexpected(ok.error());
  a.password = std::string(*password);
  a.display_name = display ? fields::trim(*display) : a.email.substr(0, a.email.find('@'));
  if (a.display_name.empty() || fields::utf8_length(a.display_name) > 100)
    return unexpected(
        bad_request("invalid_display_name", "display_name must be 1 to 100 characters."));
  return a;
}

Expected<CreatedAccount, ApiError> register_account(AppContext& app, const HttpRequest& req,
                                                    const NewAccount& account,
                                                    std::optional<Principal> actor) {
  const std::string hash = crypto::email_hash(account.email);
  // A retried registration (same Idempotency-Key and email, e.g. after a 503 whose command went
  // through later) names the same user, so it finds its own claim and dedupes to the first
  // outcome instead of answering email_taken.
  auto retry_key = idempotency_key(req);
  UserId user{retry_key ? uuid_from_text("register|" + std::string(*retry_key) + "|" + hash)
                        : new_uuid_v7()};
  const std::string subject = user.value().str();
  // Reserve the email before the command: the unique key makes concurrent registrations of
  // one address race in PostgreSQL, not in the log.
  bool claimed = with_db(app, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO identity.email_claims(email_hash, user_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING",
        hash, subject);
    auto owner = tx.exec_params(
        "SELECT user_id::text FROM identity.email_claims WHERE email_hash = $1", hash);
    tx.commit();
    return !owner.empty() && owner[0][0].as<std::string>() == subject;
  });
  if (!claimed)
    return unexpected(conflict("email_taken", "An account with this email already exists."));

  auto password_hash = app.hasher->hash(account.password);
  auto key = app.keyring->get_or_create(user.value());
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "display_name");
  json::write_string(w, crypto::encrypt_field(key, account.display_name, subject));
  json::key(w, "email");
  json::write_string(w, crypto::encrypt_field(key, account.email, subject));
  json::key(w, "email_hash");
  json::write_string(w, hash);
  json::key(w, "password_hash");
  json::write_string(w, crypto::encrypt_field(key, password_hash, subject));
  json::key(w, "role");
  json::write_string(w, to_string(account.role));
  json::key(w, "user_id");
  json::write_string(w, subject);
  w.EndObject();

  const Principal by = actor.value_or(Principal{user, account.role});
  auto cmd = make_command(req, by, "account.register", account_stream(user),
                          std::string(sb.GetString(), sb.GetSize()));
  auto result = run_command(app, cmd);
  if (!result) {
    // A definite refusal frees the email; after a timeout the command may still go through.
    if (result.error().status < 500) release_claim(app, hash, subject);
    return unexpected(result.error());
  }
  wait_for_read_models(app, result->event_positions);
  return CreatedAccount{user, account, result->event_positions};
}

HttpResponse registered_response(const CreatedAccount& created) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "id");
  json::write_string(w, created.id.value().str());
  json::key(w, "email");
  json::write_string(w, created.account.email);
  json::key(w, "role");
  json::write_string(w, to_string(created.account.role));
  json::key(w, "display_name");
  json::write_string(w, created.account.display_name);
  w.EndObject();
  auto resp = json_response(201, std::string(sb.GetString(), sb.GetSize()));
  resp.headers.push_back({"Location", "/api/v1/users/" + created.id.value().str()});
  resp.headers.push_back({"Consistency-Token", consistency_token(created.event_positions)});
  return resp;
}

}  // namespace counsel::api
