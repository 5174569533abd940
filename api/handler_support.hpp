#pragma once
// Shared plumbing for the resource handlers: body parsing, command submission, consistency
// tokens, database access and response building. No Beast here.
#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "api/access_recorder.hpp"
#include "api/app_context.hpp"
#include "api/router.hpp"
#include "commands/command.hpp"
#include "domain/json.hpp"
#include "infra/pg/connection_pool.hpp"

namespace counsel::api {

using HandlerResult = Expected<HttpResponse, ApiError>;
using Handler = std::function<HandlerResult(AppContext&, const HttpRequest&, const PathParams&)>;

// Wraps a handler so that its ApiError becomes a problem response (the one mapping place).
RouteHandler wrap(AppContext& app, Handler h);
// Same, but authenticates first; the principal is passed on.
using AuthedHandler = std::function<HandlerResult(AppContext&, const HttpRequest&,
                                                  const PathParams&, const Principal&)>;
RouteHandler wrap_authed(AppContext& app, AuthedHandler h);

HttpResponse json_response(int status, std::string body);

// The request body as a JSON object (400 problem otherwise; depth-limited).
Expected<json::Document, ApiError> parse_object_body(const HttpRequest& req);

// Query helpers: 400 on a malformed value.
Expected<std::optional<int64_t>, ApiError> query_int(const HttpRequest& req, std::string_view name,
                                                     int64_t min, int64_t max);
Expected<std::optional<Timestamp>, ApiError> query_time(const HttpRequest& req,
                                                        std::string_view name);
Expected<UserId, ApiError> path_user_id(const PathParams& params, std::string_view name,
                                        std::string_view not_found_code);

// A stable UUID (version 8) derived from `text` with SHA-256: the same text, the same id.
Uuid uuid_from_text(std::string_view text);
// The request's Idempotency-Key header when present and sane (1..200 characters).
std::optional<std::string_view> idempotency_key(const HttpRequest& req);

// A command for `stream`, with an id derived from the Idempotency-Key header when present
// (a retried request then dedupes to the first outcome).
commands::Command make_command(const HttpRequest& req, const Principal& who, std::string type,
                               std::string stream, std::string data_json);

// Submits and waits; a rejection or an unreachable log becomes an ApiError.
Expected<commands::CommandResult, ApiError> run_command(AppContext& app,
                                                        const commands::Command& cmd);

// "p.o,p.o": the positions a command's events landed at.
std::string consistency_token(const std::vector<log::Position>& positions);
std::optional<std::vector<log::Position>> parse_consistency_token(std::string_view token);
// Waits (bounded) until the read models include `positions`; false on timeout.
bool wait_for_read_models(AppContext& app, const std::vector<log::Position>& positions);
// Honours a Consistency-Token request header (400 if malformed).
Expected<bool, ApiError> honour_consistency_token(AppContext& app, const HttpRequest& req);

// Queues access records for reads of other people's sensitive data (api/access_recorder.hpp).
// A problem (503 access_log_unavailable) when the access log cannot take them: the handler
// must then not answer the read.
Expected<bool, ApiError> record_access(AppContext& app, const std::vector<AccessRecord>& records);

template <class F>
auto with_db(AppContext& app, F&& f) {
  auto lease = app.pool->acquire(std::chrono::milliseconds(5000));
  return f(lease.connection());
}

void register_auth_routes(Router& router, AppContext& app);
void register_password_reset_routes(Router& router, AppContext& app);
void register_two_factor_routes(Router& router, AppContext& app);
void register_admin_routes(Router& router, AppContext& app);
void register_audit_routes(Router& router, AppContext& app);
void register_counselor_routes(Router& router, AppContext& app);
void register_review_routes(Router& router, AppContext& app);
void register_session_routes(Router& router, AppContext& app);
void register_patient_routes(Router& router, AppContext& app);
void register_profile_routes(Router& router, AppContext& app);
void register_chat_routes(Router& router, AppContext& app);
void register_notification_routes(Router& router, AppContext& app);
void register_ops_routes(Router& router, AppContext& app);
void register_privacy_routes(Router& router, AppContext& app);

}  // namespace counsel::api
