// /api/v1/chatrooms: chat rooms over REST. Thin shells around api/chat_service (which the
// WebSocket transport shares): every route naming a room answers 404 to anyone but its two
// participants before it looks at the request's body.
#include "api/chat_service.hpp"
#include "api/handler_support.hpp"
#include "projections/read_queries.hpp"

namespace counsel::api {
namespace {

constexpr int kDefaultMessagesLimit = 50;
constexpr int kMaxMessagesLimit = 100;

HttpResponse with_token(HttpResponse resp, const std::vector<log::Position>& positions) {
  if (!positions.empty())
    resp.headers.push_back({"Consistency-Token", consistency_token(positions)});
  return resp;
}

Expected<chat::RoomAccess, ApiError> room_of(AppContext& app, const HttpRequest& req,
                                             const PathParams& params, const Principal& who) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  return chat::require_participant(app, params.get("id").value_or(""), who);
}

HandlerResult open_room(AppContext& app, const HttpRequest& req, const PathParams&,
                        const Principal& who) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto opened = chat::open_room(app, req, who, *body);
  if (!opened) return unexpected(opened.error());
  return with_token(json_response(opened->created ? 201 : 200, std::move(opened->json)),
                    opened->positions);
}

HandlerResult list_rooms(AppContext& app, const HttpRequest& req, const PathParams&,
                         const Principal& who) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto page = query_int(req, "page", 1, 1000000);
  if (!page) return unexpected(page.error());
  auto per_page = query_int(req, "per_page", 1, projections::kMaxPerPage);
  if (!per_page) return unexpected(per_page.error());
  return json_response(
      200, chat::rooms_of(app, who, static_cast<int>(page->value_or(1)),
                          static_cast<int>(per_page->value_or(projections::kDefaultPerPage))));
}

HandlerResult list_messages(AppContext& app, const HttpRequest& req, const PathParams& params,
                            const Principal& who) {
  auto room = room_of(app, req, params, who);
  if (!room) return unexpected(room.error());
  auto recorded = record_access(app, {chat::history_access(who, *room)});
  if (!recorded) return unexpected(recorded.error());
  auto limit = query_int(req, "limit", 1, kMaxMessagesLimit);
  if (!limit) return unexpected(limit.error());
  std::optional<std::string> before;
  if (auto cursor = req.query_param("before"); cursor && !cursor->empty())
    before = std::string(*cursor);
  auto page = chat::messages_page(app, *room, before,
                                  static_cast<int>(limit->value_or(kDefaultMessagesLimit)));
  if (!page) return unexpected(page.error());
  return json_response(200, std::move(*page));
}

HandlerResult send_message(AppContext& app, const HttpRequest& req, const PathParams& params,
                           const Principal& who) {
  auto room = room_of(app, req, params, who);
  if (!room) return unexpected(room.error());
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto sent = chat::send_message(app, req, *room, who, *body);
  if (!sent) return unexpected(sent.error());
  return with_token(json_response(201, std::move(sent->json)), sent->positions);
}

HandlerResult mark_read(AppContext& app, const HttpRequest& req, const PathParams& params,
                        const Principal& who) {
  auto room = room_of(app, req, params, who);
  if (!room) return unexpected(room.error());
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto positions = chat::mark_read(app, req, *room, who, *body);
  if (!positions) return unexpected(positions.error());
  wait_for_read_models(app, *positions);
  return with_token(json_response(200, chat::read_state_json(app, *room, who)), *positions);
}

}  // namespace

void register_chat_routes(Router& router, AppContext& app) {
  router.add("POST", "/api/v1/chatrooms", wrap_authed(app, open_room));
  router.add("GET", "/api/v1/chatrooms", wrap_authed(app, list_rooms));
  router.add("GET", "/api/v1/chatrooms/{id}/messages", wrap_authed(app, list_messages));
  router.add("POST", "/api/v1/chatrooms/{id}/messages", wrap_authed(app, send_message));
  router.add("POST", "/api/v1/chatrooms/{id}/read", wrap_authed(app, mark_read));
}

}  // namespace counsel::api
