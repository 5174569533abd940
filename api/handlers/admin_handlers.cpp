// /api/v1/admin/*: what only admins do. Verifying, suspending and reinstating an account
// (a counsellor's decision is also recorded in their counselor stream, where booking checks
// it) and creating compliance accounts. A suspension takes effect at once: the refresh tokens
// are revoked here and every api process's AccountGate refuses the access tokens.
#include <pqxx/pqxx>

#include "api/account_registration.hpp"
#include "api/handler_support.hpp"
#include "api/refresh_tokens.hpp"
#include "domain/aggregates/field_rules.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "projections/account_gate.hpp"
#include "projections/read_queries.hpp"

namespace counsel::api {
namespace {

constexpr size_t kMaxReasonChars = 500;

Expected<bool, ApiError> require_admin(const Principal& who) {
  if (who.role != Role::admin)
    return unexpected(forbidden("forbidden", "Only an admin may do this."));
  return true;
}

// {id, role, status, verified}, read after the change reached the read models.
std::string status_view(AppContext& app, const std::string& user_id) {
  return with_db(app, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto rows = tx.exec_params(
        "SELECT u.role, u.status, u.verified OR coalesce(c.verified, false)"
        " FROM read.users u LEFT JOIN read.counselors c ON c.counselor_id = u.user_id"
        " WHERE u.user_id = $1::uuid",
        user_id);
    rapidjson::StringBuffer sb;
    json::Writer w(sb);
    w.StartObject();
    json::key(w, "id");
    json::write_string(w, user_id);
    if (!rows.empty()) {
      json::key(w, "role");
      json::write_string(w, rows[0][0].c_str());
      json::key(w, "status");
      json::write_string(w, rows[0][1].c_str());
      json::key(w, "verified");
      w.Bool(rows[0][2].as<bool>());
    }
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
  });
}

enum class Decision { verify, suspend, reinstate };

HandlerResult decide(AppContext& app, const HttpRequest& req, const PathParams& params,
                     const Principal& who, Decision decision) {
  if (auto ok = require_admin(who); !ok) return unexpected(ok.error());
  auto id = path_user_id(params, "id", "user_not_found");
  if (!id) return unexpected(id.error());
  const std::string user_id = id->value().str();
  std::string reason;
  if (decision == Decision::suspend && !req.body.empty()) {
    auto body = parse_object_body(req);
    if (!body) return unexpected(body.error());
    if (body->HasMember("reason")) {
      auto r = json::get_string(*body, "reason");
      if (!r || fields::utf8_length(*r) > kMaxReasonChars)
        return unexpected(bad_request("invalid_reason",
                                      "reason must be a string of at most 500 "
                                      "characters."));
      reason = fields::trim(*r);
    }
  }
  auto creds = with_db(app, [&](pqxx::connection& c) {
    return projections::find_credentials_by_user_id(c, user_id);
  });
  if (!creds) return unexpected(not_found("user_not_found", "No such user."));
  const bool counselor = creds->role == "counselor";

  // The account stream carries the sign-in status; a counsellor's verification and
  // suspension also go to their counselor stream, which decides bookings. Each command is
  // idempotent, so a retry after a partial failure completes the pair.
  std::vector<log::Position> positions;
  auto submit = [&](std::string type, std::string stream,
                    std::string data) -> Expected<bool, ApiError> {
    auto result = run_command(
        app, make_command(req, who, std::move(type), std::move(stream), std::move(data)));
    if (!result) return unexpected(result.error());
    positions.insert(positions.end(), result->event_positions.begin(),
                     result->event_positions.end());
    return true;
  };
  const std::string user_member = R"({"user_id":")" + user_id + "\"";
  Expected<bool, ApiError> done = true;
  switch (decision) {
    case Decision::verify:
      done = counselor ? submit("counselor.verify", counselor_stream(*id), "{}")
                       : submit("account.verify", account_stream(*id), user_member + "}");
      break;
    case Decision::suspend: {
      std::string encrypted;
      if (!reason.empty()) {
        auto key = app.keyring->get_or_create(id->value());
        encrypted = crypto::encrypt_field(key, reason, user_id);
      }
      rapidjson::StringBuffer sb;
      json::Writer w(sb);
      w.StartObject();
      json::key(w, "reason");
      json::write_string(w, encrypted);
      json::key(w, "user_id");
      json::write_string(w, user_id);
      w.EndObject();
      done =
          submit("account.suspend", account_stream(*id), std::string(sb.GetString(), sb.GetSize()));
      if (done && counselor) done = submit("counselor.suspend", counselor_stream(*id), "{}");
      if (done)
        with_db(app, [&](pqxx::connection& c) {
          refresh_tokens::revoke_all(c, user_id);
          return 0;
        });
      break;
    }
    case Decision::reinstate:
      done = submit("account.reinstate", account_stream(*id), user_member + "}");
      if (done && counselor) done = submit("counselor.reinstate", counselor_stream(*id), "{}");
      break;
  }
  if (!done) return unexpected(done.error());
  wait_for_read_models(app, positions);
  // This process must not wait for the NOTIFY to refuse the user's next request.
  if (app.gate)
    with_db(app, [&](pqxx::connection& c) {
      app.gate->refresh(c, user_id);
      return 0;
    });
  auto resp = json_response(200, status_view(app, user_id));
  if (!positions.empty())
    resp.headers.push_back({"Consistency-Token", consistency_token(positions)});
  return resp;
}

HandlerResult verify(AppContext& app, const HttpRequest& req, const PathParams& p,
                     const Principal& who) {
  return decide(app, req, p, who, Decision::verify);
}
HandlerResult suspend(AppContext& app, const HttpRequest& req, const PathParams& p,
                      const Principal& who) {
  return decide(app, req, p, who, Decision::suspend);
}
HandlerResult reinstate(AppContext& app, const HttpRequest& req, const PathParams& p,
                        const Principal& who) {
  return decide(app, req, p, who, Decision::reinstate);
}

// Admins create compliance accounts; admins themselves come from `counsel users create-admin`.
HandlerResult create_user(AppContext& app, const HttpRequest& req, const PathParams&,
                          const Principal& who) {
  if (auto ok = require_admin(who); !ok) return unexpected(ok.error());
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto role_text = json::get_string(*body, "role").value_or("compliance");
  if (role_text != "compliance")
    return unexpected(
        bad_request("invalid_role", "admins create compliance accounts only (role: compliance)."));
  auto account = read_new_account(*body, Role::compliance);
  if (!account) return unexpected(account.error());
  auto created = register_account(app, req, *account, who);
  if (!created) return unexpected(created.error());
  return registered_response(*created);
}

}  // namespace

void register_admin_routes(Router& router, AppContext& app) {
  router.add("POST", "/api/v1/admin/users", wrap_authed(app, create_user));
  router.add("POST", "/api/v1/admin/users/{id}/verify", wrap_authed(app, verify));
  router.add("POST", "/api/v1/admin/users/{id}/suspend", wrap_authed(app, suspend));
  router.add("POST", "/api/v1/admin/users/{id}/reinstate", wrap_authed(app, reinstate));
}

}  // namespace counsel::api
