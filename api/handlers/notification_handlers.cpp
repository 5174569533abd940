// /api/v1/notifications: the caller's own in-app notifications, and marking them read.
#include "api/handler_support.hpp"
#include "api/notification_inbox.hpp"
#include "infra/logging.hpp"

namespace counsel::api {
namespace {

Expected<std::optional<Uuid>, ApiError> query_uuid(const HttpRequest& req, std::string_view name) {
  auto v = req.query_param(name);
  if (!v || v->empty()) return std::optional<Uuid>{};
  if (auto id = Uuid::parse(*v)) return std::optional<Uuid>{*id};
  return unexpected(bad_request("invalid_parameter", std::string(name) + " must be a UUID."));
}

Expected<bool, ApiError> query_flag(const HttpRequest& req, std::string_view name) {
  auto v = req.query_param(name);
  if (!v || v->empty() || *v == "false" || *v == "0") return false;
  if (*v == "true" || *v == "1") return true;
  return unexpected(
      bad_request("invalid_parameter", std::string(name) + " must be true or false."));
}

// Serving a notification in the list is an in-app delivery too: recorded for those no relay
// recorded yet. Bookkeeping only, so a failure here does not fail the request.
void record_served(AppContext& app, const inbox::Page& page) {
  std::vector<inbox::InAppDelivery> served;
  for (const auto& n : page.items)
    if (!n.delivered) served.push_back({&n, notify::DeliveryResult::delivered()});
  if (served.empty()) return;
  try {
    with_db(app,
            [&](pqxx::connection& c) { inbox::record_in_app_deliveries(c, served, *app.keyring); });
  } catch (const std::exception& e) {
    logging::warn("notifications", std::string("recording in-app deliveries failed: ") + e.what());
  }
}

HandlerResult list_notifications(AppContext& app, const HttpRequest& req, const PathParams&,
                                 const Principal& who) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto unread = query_flag(req, "unread");
  auto after = query_uuid(req, "after_id");
  auto before = query_uuid(req, "before_id");
  auto limit = query_int(req, "limit", 1, inbox::kMaxLimit);
  if (!unread) return unexpected(unread.error());
  if (!after) return unexpected(after.error());
  if (!before) return unexpected(before.error());
  if (!limit) return unexpected(limit.error());
  if (*after && *before)
    return unexpected(bad_request("invalid_parameter", "Give after_id or before_id, not both."));

  inbox::ListOptions options;
  options.unread_only = *unread;
  options.after_id = *after;
  options.before_id = *before;
  options.limit = static_cast<int>(limit->value_or(inbox::kDefaultLimit));
  auto page = with_db(
      app, [&](pqxx::connection& c) { return inbox::list(c, who.id.value().str(), options); });
  if (!page) {
    switch (page.error()) {
      case inbox::ListFailure::unknown_cursor:
        return unexpected(
            bad_request("invalid_parameter", std::string(*after ? "after_id" : "before_id") +
                                                 " must name one of your notifications."));
    }
  }
  record_served(app, *page);
  return json_response(200, inbox::page_json(*page));
}

HandlerResult mark_read(AppContext& app, const HttpRequest& req, const PathParams& params,
                        const Principal& who) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto id_text = params.get("id");
  auto id = id_text ? Uuid::parse(*id_text) : std::nullopt;
  // Someone else's notification is as unknown as a made-up id: ids reveal nothing.
  const bool marked = id && with_db(app, [&](pqxx::connection& c) {
                        return inbox::mark_read(c, who.id.value().str(), *id);
                      });
  if (!marked) return unexpected(not_found("notification_not_found", "No such notification."));
  return json_response(204, "");
}

HandlerResult mark_all_read(AppContext& app, const HttpRequest& req, const PathParams&,
                            const Principal& who) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  with_db(app, [&](pqxx::connection& c) { return inbox::mark_all_read(c, who.id.value().str()); });
  return json_response(204, "");
}

}  // namespace

void register_notification_routes(Router& router, AppContext& app) {
  router.add("GET", "/api/v1/notifications", wrap_authed(app, list_notifications));
  router.add("POST", "/api/v1/notifications/read-all", wrap_authed(app, mark_all_read));
  router.add("POST", "/api/v1/notifications/{id}/read", wrap_authed(app, mark_read));
}

}  // namespace counsel::api
