// GET /api/v1/audit: the compliance officers' search over the audit read model, one row per
// event of the log with who acted, whom it concerns, what and when — never the sealed data
// (`counsel audit replay` reads that, with the same filters, where the keys are).
#include "api/handler_support.hpp"
#include "projections/audit_queries.hpp"

namespace counsel::api {
namespace {

Expected<std::string, ApiError> optional_user_param(const HttpRequest& req, std::string_view name) {
  auto v = req.query_param(name);
  if (!v || v->empty()) return std::string();
  auto id = Uuid::parse(*v);
  if (!id)
    return unexpected(bad_request("invalid_parameter", std::string(name) + " must be a UUID."));
  return id->str();
}

HandlerResult search(AppContext& app, const HttpRequest& req, const PathParams&,
                     const Principal& who) {
  if (who.role != Role::compliance)
    return unexpected(forbidden("forbidden", "The audit stream is for compliance officers."));
  projections::AuditFilter f;
  auto actor = optional_user_param(req, "actor");
  if (!actor) return unexpected(actor.error());
  auto subject = optional_user_param(req, "subject");
  if (!subject) return unexpected(subject.error());
  f.actor = *actor;
  f.subject = *subject;
  f.type = std::string(req.query_param("type").value_or(""));
  if (f.type.size() > 100)
    return unexpected(bad_request("invalid_parameter", "type is at most 100 characters."));
  auto from = query_time(req, "from");
  if (!from) return unexpected(from.error());
  auto to = query_time(req, "to");
  if (!to) return unexpected(to.error());
  f.from = *from;
  f.to = *to;
  auto page = query_int(req, "page", 1, 1'000'000);
  if (!page) return unexpected(page.error());
  auto per_page = query_int(req, "per_page", 1, 200);
  if (!per_page) return unexpected(per_page.error());
  f.page = static_cast<int>(page->value_or(1));
  f.per_page = static_cast<int>(per_page->value_or(50));
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  return json_response(200, with_db(app, [&](pqxx::connection& c) {
                         return projections::search_audit_events(c, f);
                       }));
}

}  // namespace

void register_audit_routes(Router& router, AppContext& app) {
  router.add("GET", "/api/v1/audit", wrap_authed(app, search));
}

}  // namespace counsel::api
