// /api/v1/auth/password/reset and /reset/confirm: a forgotten password is replaced with a
// one-time token sent by email through the notification outbox. Only the token's SHA-256 is
// stored (identity.password_reset_tokens); neither the token nor the new password ever enters
// the events log or the process logs.
#include <pqxx/pqxx>

#include <chrono>
#include <thread>

#include "api/account_passwords.hpp"
#include "api/handler_support.hpp"
#include "api/notification_outbox.hpp"
#include "api/refresh_tokens.hpp"
#include "domain/aggregates/field_rules.hpp"
#include "domain/events/envelope.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "infra/crypto/password_hasher.hpp"
#include "infra/logging.hpp"
#include "infra/random_ids.hpp"
#include "projections/read_queries.hpp"

namespace counsel::api {
namespace {

using fields::utf8_length;

constexpr auto kTokenLifetime = std::chrono::minutes(30);
constexpr size_t kTokenBytes = 32;
// Longer input is never one of our tokens (64 hex characters): refused before any work.
constexpr size_t kMaxPresentedTokenLength = 256;
// A reset request is answered no sooner than this after it arrived, whether or not the
// account exists, so the response time does not tell which (the work for an existing account
// normally takes well under it).
constexpr auto kRequestResponseFloor = std::chrono::milliseconds(250);
constexpr std::string_view kRequestAcceptedBody =
    R"({"detail":"If an account exists for this email, a reset link is on its way."})";
constexpr std::string_view kResetTemplate = "password_reset";
constexpr std::string_view kConfirmPath = "/api/v1/auth/password/reset/confirm";

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

ApiError invalid_reset_token() {
  return unauthorized("invalid_reset_token", "The reset token is unknown, expired or used.");
}

std::string display_name_of(AppContext& app, const std::string& user_id) {
  auto user =
      with_db(app, [&](pqxx::connection& c) { return projections::find_user_by_id(c, user_id); });
  if (!user) return "";
  auto doc = json::parse(*user);
  if (!doc || !doc->IsObject()) return "";
  return std::string(json::get_string(*doc, "display_name").value_or(""));
}

std::string reset_email_text(std::string_view display_name, std::string_view token,
                             Timestamp expires_at) {
  std::string text =
      display_name.empty() ? "Hello,\n\n" : "Hello " + std::string(display_name) + ",\n\n";
  text += "Someone asked to reset the password of your counsel account, hopefully you.\n";
  text += "To choose a new password, send this one-time token with your new password to\n";
  text += "POST " + std::string(kConfirmPath) + ":\n\n";
  text += "  {\"token\": \"" + std::string(token) + "\",\n";
  text += "   \"new_password\": \"<your new password>\"}\n\n";
  text += "The token works once, until " + format_rfc3339(expires_at) + " (30 minutes).\n";
  text += "Setting a new password signs you out on every device.\n\n";
  text += "If you did not ask for this, ignore this email: your password stays as it is.\n";
  return text;
}

std::string reset_email_payload(std::string_view email, std::string_view display_name,
                                std::string_view token, Timestamp expires_at) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "to");
  json::write_string(w, email);
  json::key(w, "to_name");
  json::write_string(w, display_name);
  json::key(w, "subject");
  json::write_string(w, "Reset your counsel password");
  json::key(w, "text");
  json::write_string(w, reset_email_text(display_name, token, expires_at));
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

// Records the request in the account's stream, stores the token's hash and queues the email.
// Failures are logged, not answered: the caller must not learn that the account exists.
void issue_reset_token(AppContext& app, const HttpRequest& req,
                       const projections::CredentialsView& account) {
  const auto id = Uuid::parse(account.user_id);
  if (!id || account.email.empty()) return;  // erased: there is nowhere to send it
  const UserId user{*id};
  const Timestamp expires_at =
      std::chrono::time_point_cast<std::chrono::milliseconds>(now_utc() + kTokenLifetime);

  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "expires_at");
  json::write_string(w, format_rfc3339(expires_at));
  json::key(w, "user_id");
  json::write_string(w, account.user_id);
  w.EndObject();
  // The requester is not signed in: the system records the request.
  const Principal system{UserId{}, Role::system};
  auto cmd = make_command(req, system, "account.request_password_reset", account_stream(user),
                          std::string(sb.GetString(), sb.GetSize()));
  // Every request issues a new token, so it is a new command even when a client retries with
  // an Idempotency-Key (derived from the nil system id, that key would also collide across
  // accounts).
  cmd.id = CommandId{new_uuid_v7()};
  auto recorded = run_command(app, cmd);
  if (!recorded) {
    logging::warn("auth", "password reset for user " + account.user_id +
                              " not recorded, no email sent: " + recorded.error().code);
    return;
  }

  const std::string token = random_hex(kTokenBytes);
  const std::string payload =
      reset_email_payload(account.email, display_name_of(app, account.user_id), token, expires_at);
  with_db(app, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    // One usable token per account: a new request invalidates the earlier ones.
    tx.exec_params0("DELETE FROM identity.password_reset_tokens WHERE user_id = $1::uuid",
                    account.user_id);
    tx.exec_params0(
        "INSERT INTO identity.password_reset_tokens (token_hash, user_id, expires_at)"
        " VALUES ($1, $2::uuid, $3::timestamptz)",
        sha256_hex(token), account.user_id, format_rfc3339(expires_at));
    notify::enqueue(tx, user, notify::kEmailChannel, kResetTemplate, payload, *app.keyring);
    tx.commit();
    return 0;
  });
}

HandlerResult request_reset(AppContext& app, const HttpRequest& req, const PathParams&) {
  const auto arrived = std::chrono::steady_clock::now();
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto email_raw = json::get_string(*body, "email");
  if (!email_raw) return unexpected(bad_request("invalid_email", "email is required."));
  const std::string email = lower_trim(*email_raw);
  if (!plausible_email(email))
    return unexpected(bad_request("invalid_email", "email is not a valid address."));

  auto account = with_db(app, [&](pqxx::connection& c) {
    return projections::find_credentials_by_email_hash(c, crypto::email_hash(email));
  });
  // A suspended account gets no token: it could not use one.
  if (account && account->status == "active") issue_reset_token(app, req, *account);
  std::this_thread::sleep_until(arrived + kRequestResponseFloor);
  return json_response(202, std::string(kRequestAcceptedBody));
}

// Whose token this is, without spending it: the checks that may refuse the reset come first.
Expected<Principal, ApiError> token_holder(AppContext& app, const std::string& token_hash) {
  return with_db(app, [&](pqxx::connection& c) -> Expected<Principal, ApiError> {
    std::string user_id;
    {
      pqxx::read_transaction tx(c);
      auto rows = tx.exec_params(
          "SELECT user_id::text FROM identity.password_reset_tokens"
          " WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()",
          token_hash);
      if (rows.empty()) return unexpected(invalid_reset_token());
      user_id = rows[0][0].c_str();
    }
    auto account = projections::find_credentials_by_user_id(c, user_id);
    const auto id = Uuid::parse(user_id);
    const auto role = account ? parse_role(account->role) : std::nullopt;
    if (!account || !id || !role) return unexpected(invalid_reset_token());
    if (account->status != "active")
      return unexpected(forbidden("account_suspended", "This account is suspended."));
    return Principal{UserId{*id}, *role};
  });
}

HandlerResult confirm_reset(AppContext& app, const HttpRequest& req, const PathParams&) {
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto token = json::get_string(*body, "token");
  auto next = json::get_string(*body, "new_password");
  if (!token || token->empty())
    return unexpected(bad_request("invalid_request", "token is required."));
  if (!next) return unexpected(bad_request("invalid_password", "new_password is required."));
  // Checked before the token is looked at, so a rejected password does not spend it.
  if (auto ok = check_new_password("new_password", *next); !ok) return unexpected(ok.error());
  if (token->size() > kMaxPresentedTokenLength) return unexpected(invalid_reset_token());
  const std::string token_hash = sha256_hex(*token);

  auto holder_or_error = token_holder(app, token_hash);
  if (!holder_or_error) return unexpected(holder_or_error.error());
  const Principal holder = *holder_or_error;
  const std::string user_id = holder.id.value().str();

  const auto cmd = password_change_command(app, req, holder, holder.id, *next);

  // The token is spent in the transaction that stays open until the new password is in the
  // log: if the command fails, the rollback leaves the token usable for a retry, and a
  // concurrent use of the same token waits on the row lock and then finds it spent.
  auto changed =
      with_db(app, [&](pqxx::connection& c) -> Expected<commands::CommandResult, ApiError> {
        pqxx::work tx(c);
        auto spent = tx.exec_params(
            "UPDATE identity.password_reset_tokens SET used_at = now()"
            " WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()"
            " RETURNING user_id::text",
            token_hash);
        if (spent.empty() || user_id != spent[0][0].c_str())
          return unexpected(invalid_reset_token());
        auto result = run_command(app, cmd);
        if (!result) return unexpected(result.error());
        tx.commit();
        return std::move(*result);
      });
  if (!changed) return unexpected(changed.error());
  return password_changed(app, holder.id, *changed);
}

}  // namespace

void register_password_reset_routes(Router& router, AppContext& app) {
  router.add("POST", "/api/v1/auth/password/reset", wrap(app, request_reset));
  router.add("POST", "/api/v1/auth/password/reset/confirm", wrap(app, confirm_reset));
}

}  // namespace counsel::api
