// Data subject rights (POPIA s23 and s24): GET /api/v1/me/export gives the caller everything the
// platform holds about them, including who read their sensitive data; POST /api/v1/me/erase
// erases them by crypto-shredding. A client with nothing a clinician must keep is erased at
// once; a counsellor, or a client with a patient record, waits for an admin
// (/api/v1/admin/erasure-requests), because clinical records have retention rules.
//
// Erasure itself is the account.erased event: projecting it shreds the subject key and scrubs
// the read models in one transaction (projections/users_projection.cpp), and every process's
// keyring learns it through NOTIFY. The answer waits for that, so when it arrives the person's
// sealed data is unreadable everywhere.
#include <pqxx/pqxx>

#include "api/handler_support.hpp"
#include "api/refresh_tokens.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "infra/random_ids.hpp"
#include "projections/account_gate.hpp"
#include "projections/subject_export.hpp"

namespace counsel::api {
namespace {

std::string status_body(const std::string& user_id, std::string_view status,
                        std::string_view grounds = "") {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "user_id");
  json::write_string(w, user_id);
  json::key(w, "status");
  json::write_string(w, status);
  if (!grounds.empty()) {
    json::key(w, "grounds");
    json::write_string(w, grounds);
  }
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

// Runs one account command and waits for the read models (for account.erase: the shredding).
Expected<std::vector<log::Position>, ApiError> account_command(AppContext& app,
                                                               const HttpRequest& req,
                                                               const Principal& who,
                                                               const UserId& user, std::string type,
                                                               std::string extra_members) {
  std::string data = R"({"user_id":")" + user.value().str() + "\"" + extra_members + "}";
  auto result = run_command(
      app, make_command(req, who, std::move(type), account_stream(user), std::move(data)));
  if (!result) return unexpected(result.error());
  wait_for_read_models(app, result->event_positions);
  return result->event_positions;
}

// After an erasure reached the read models: no refresh token survives, and this process's gate
// refuses the person's access tokens without waiting for the NOTIFY.
void after_erasure(AppContext& app, const std::string& user_id) {
  with_db(app, [&](pqxx::connection& c) {
    refresh_tokens::revoke_all(c, user_id);
    if (app.gate) app.gate->refresh(c, user_id);
  });
}

HttpResponse with_token(HttpResponse resp, const std::vector<log::Position>& positions) {
  if (!positions.empty())
    resp.headers.push_back({"Consistency-Token", consistency_token(positions)});
  return resp;
}

HandlerResult export_me(AppContext& app, const HttpRequest& req, const PathParams&,
                        const Principal& who) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  const std::string me = who.id.value().str();
  auto open_own = [&](const std::string& sender,
                      const std::string& sealed) -> std::optional<std::string> {
    auto subject = Uuid::parse(sender);
    if (!subject) return std::nullopt;
    auto key = app.keyring->find(*subject);
    if (!key) return std::nullopt;
    return crypto::decrypt_field(*key, sealed, sender);
  };
  auto sections = with_db(
      app, [&](pqxx::connection& c) { return projections::export_subject_json(c, me, open_own); });
  if (!sections) return unexpected(not_found("user_not_found", "Your account is not visible yet."));
  std::string body = R"({"format":"counsel.export.v1","generated_at":")" +
                     format_rfc3339(now_utc()) + R"(","user_id":")" + me + R"(","data":)" +
                     *sections + "}";
  auto resp = json_response(200, std::move(body));
  resp.headers.push_back(
      {"Content-Disposition", "attachment; filename=\"counsel-export-" + me + ".json\""});
  resp.headers.push_back({"Cache-Control", "no-store"});
  return resp;
}

HandlerResult erase_me(AppContext& app, const HttpRequest& req, const PathParams&,
                       const Principal& who) {
  if (who.role != Role::client && who.role != Role::counselor)
    return unexpected(forbidden("role_not_allowed", "Staff accounts are retired by the ops tool."));
  const std::string me = who.id.value().str();
  // Records a clinician must keep make the erasure wait for an admin.
  std::string grounds;
  if (who.role == Role::counselor) {
    grounds = "counselor_records";
  } else if (with_db(app, [&](pqxx::connection& c) {
               pqxx::read_transaction tx(c);
               return !tx.exec_params(
                             "SELECT 1 FROM read.patients WHERE owner_id = $1::uuid"
                             " LIMIT 1",
                             me)
                           .empty();
             })) {
    grounds = "clinical_records";
  }
  if (!grounds.empty()) {
    auto requested = account_command(app, req, who, who.id, "account.request_erasure",
                                     R"(,"grounds":")" + grounds + "\"");
    if (!requested) return unexpected(requested.error());
    return with_token(json_response(202, status_body(me, "pending_approval", grounds)), *requested);
  }
  auto erased = account_command(app, req, who, who.id, "account.erase", R"(,"approved_by":"")");
  if (!erased) return unexpected(erased.error());
  after_erasure(app, me);
  return with_token(json_response(200, status_body(me, "erased")), *erased);
}

// The pending request of `params`'s user: 404 for an unknown user, 409 when none is pending.
Expected<std::string, ApiError> pending_request(AppContext& app, const PathParams& params) {
  auto id = path_user_id(params, "id", "user_not_found");
  if (!id) return unexpected(id.error());
  const std::string user_id = id->value().str();
  auto row = with_db(app, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return tx.exec_params(
        "SELECT erasure_requested_at IS NOT NULL FROM read.users WHERE user_id = $1::uuid",
        user_id);
  });
  if (row.empty()) return unexpected(not_found("user_not_found", "No such user."));
  if (!row[0][0].as<bool>())
    return unexpected(
        conflict("no_erasure_request", "This account has no pending erasure request."));
  return user_id;
}

HandlerResult list_requests(AppContext& app, const HttpRequest& req, const PathParams&,
                            const Principal&) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto body = with_db(app, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return std::string(
        tx.exec("SELECT json_build_object('results', coalesce(json_agg(r ORDER BY r.requested_at,"
                " r.user_id), '[]'), 'total', count(*))::text FROM ("
                " SELECT user_id, role, erasure_grounds AS grounds, erasure_requested_at AS "
                "requested_at"
                " FROM read.users WHERE erasure_requested_at IS NOT NULL AND status <> 'erased') r")
            [0][0]
                .c_str());
  });
  return json_response(200, std::move(body));
}

HandlerResult approve(AppContext& app, const HttpRequest& req, const PathParams& params,
                      const Principal& who) {
  auto user_id = pending_request(app, params);
  if (!user_id) return unexpected(user_id.error());
  const UserId user{*Uuid::parse(*user_id)};
  auto erased = account_command(app, req, who, user, "account.erase",
                                R"(,"approved_by":")" + who.id.value().str() + "\"");
  if (!erased) return unexpected(erased.error());
  after_erasure(app, *user_id);
  return with_token(json_response(200, status_body(*user_id, "erased")), *erased);
}

HandlerResult reject(AppContext& app, const HttpRequest& req, const PathParams& params,
                     const Principal& who) {
  auto user_id = pending_request(app, params);
  if (!user_id) return unexpected(user_id.error());
  const UserId user{*Uuid::parse(*user_id)};
  auto rejected = account_command(app, req, who, user, "account.reject_erasure", "");
  if (!rejected) return unexpected(rejected.error());
  return with_token(json_response(200, status_body(*user_id, "rejected")), *rejected);
}

}  // namespace

void register_privacy_routes(Router& router, AppContext& app) {
  router.add("GET", "/api/v1/me/export", wrap_authed(app, export_me));
  router.add("POST", "/api/v1/me/erase", wrap_authed(app, erase_me));
  router.add("GET", "/api/v1/admin/erasure-requests", wrap_authed(app, list_requests));
  router.add("POST", "/api/v1/admin/erasure-requests/{id}/approve", wrap_authed(app, approve));
  router.add("POST", "/api/v1/admin/erasure-requests/{id}/reject", wrap_authed(app, reject));
}

}  // namespace counsel::api
