// WebSocket routes: GET /ws/chat/{room_id} and GET /ws/notifications. The upgrade is
// authenticated (a bearer token in the Authorization header, or `token` in the query for
// browsers, which cannot set headers on a WebSocket), rate-limited in the chat class and, for a
// room, allowed for its participants only (others get the same 404 as over REST). A message
// sent over the socket is the same command as POST /api/v1/chatrooms/{id}/messages; the frame
// every participant then receives comes back through the events log (RealtimeHub).
#include "api/websocket_routes.hpp"

#include <chrono>
#include <mutex>

#include "api/chat_service.hpp"
#include "api/handler_support.hpp"
#include "api/rate_limiter.hpp"

namespace counsel::api {
namespace {

constexpr std::string_view kChatPrefix = "/ws/chat/";
constexpr std::string_view kNotificationsPath = "/ws/notifications";
// Typing frames are throttled per socket: they are a hint, not a stream.
constexpr auto kTypingInterval = std::chrono::milliseconds(1000);

std::string error_frame(const ApiError& e) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "type");
  json::write_string(w, "error");
  json::key(w, "status");
  w.Int(e.status);
  json::key(w, "code");
  json::write_string(w, e.code);
  json::key(w, "detail");
  json::write_string(w, e.detail);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

// The request as the REST handlers would see it, with the token from the query moved into the
// Authorization header.
HttpRequest with_bearer(const HttpRequest& req) {
  HttpRequest copy = req;
  if (!copy.header("authorization")) {
    if (auto token = req.query_param("token"); token && !token->empty())
      copy.headers["authorization"] = "Bearer " + std::string(*token);
  }
  return copy;
}

HttpResponse refuse(const ApiError& e, const std::string& path) {
  return problem_response(e, path);
}

// State of one chat socket, shared by its callbacks.
struct ChatSocket {
  AppContext* app = nullptr;
  RealtimeHub* hub = nullptr;
  RateLimiter* limiter = nullptr;
  HttpRequest request;  // the upgrade request: its headers travel with each command
  Principal who;
  chat::RoomAccess room;
  std::string after;
  std::shared_ptr<RealtimeHub::RoomSubscription> subscription;
  std::mutex mutex;
  std::chrono::steady_clock::time_point last_typing{};
};

void on_chat_message(ChatSocket& s, const std::shared_ptr<WebSocketConnection>& conn,
                     const std::string& text) {
  auto doc = json::parse(text, nullptr, 16);
  if (!doc || !doc->IsObject()) {
    conn->send_text(error_frame(bad_request("invalid_json", "Frames are JSON objects.")));
    return;
  }
  const std::string type(json::get_string(*doc, "type").value_or(""));
  if (type == "typing") {
    {
      std::lock_guard lock(s.mutex);
      auto now = std::chrono::steady_clock::now();
      if (now - s.last_typing < kTypingInterval) return;
      s.last_typing = now;
    }
    s.hub->typing(s.room.room_id, s.who.id.value().str());
    return;
  }
  if (type != "message" && type != "read") {
    conn->send_text(
        error_frame(bad_request("unknown_type", "type must be message, typing or read.")));
    return;
  }
  if (s.limiter) {
    auto decision = s.limiter->acquire(RouteClass::chat, s.who.id.value().str());
    if (!decision.allowed) {
      conn->send_text(error_frame(
          too_many_requests(decision.retry_after.count(), "Too many chat messages; slow down.")));
      return;
    }
  }
  if (type == "read") {
    json::Document body;
    body.SetObject();
    auto& a = body.GetAllocator();
    if (doc->HasMember("up_to")) body.AddMember("up_to", json::Value((*doc)["up_to"], a), a);
    auto read = chat::mark_read(*s.app, s.request, s.room, s.who, body);
    if (!read) conn->send_text(error_frame(read.error()));
    return;
  }
  // The REST body's members only: the frame's `type` is the socket's business.
  json::Document body;
  body.SetObject();
  auto& a = body.GetAllocator();
  if (doc->HasMember("content")) body.AddMember("content", json::Value((*doc)["content"], a), a);
  if (doc->HasMember("message_type")) {
    body.AddMember("message_type", json::Value((*doc)["message_type"], a), a);
  } else {
    body.AddMember("message_type", "text", a);
  }
  auto sent = chat::send_message(*s.app, s.request, s.room, s.who, body);
  if (!sent) conn->send_text(error_frame(sent.error()));
  // On success the message reaches this socket too, through the events log, in room order.
}

std::variant<WebSocketCallbacks, HttpResponse> open_chat(AppContext& app, RealtimeHub& hub,
                                                         RateLimiter* limiter,
                                                         const HttpRequest& req,
                                                         const Principal& who) {
  const std::string room_id(req.path.substr(kChatPrefix.size()));
  auto room = chat::require_participant(app, room_id, who);
  if (!room) return refuse(room.error(), req.path);
  // The socket shows the room's history (backfill, then live): one access for the connection.
  auto recorded = record_access(app, {chat::history_access(who, *room)});
  if (!recorded) return refuse(recorded.error(), req.path);
  auto state = std::make_shared<ChatSocket>();
  state->app = &app;
  state->hub = &hub;
  state->limiter = limiter;
  state->request = req;
  state->request.headers.erase("idempotency-key");  // each frame is a command of its own
  state->who = who;
  state->room = *room;
  state->after = std::string(req.query_param("after").value_or(""));
  WebSocketCallbacks callbacks;
  callbacks.on_open = [state](const std::shared_ptr<WebSocketConnection>& conn) {
    auto& s = *state;
    s.subscription =
        s.hub->join_room(s.room.room_id, s.who.id.value().str(), conn, s.after, [&s]() {
          auto missed = chat::messages_after(*s.app, s.room, s.after, 500);
          std::vector<std::string> frames;
          if (!missed) return frames;
          frames.reserve(missed->size());
          for (auto& m : *missed) {
            // {"type":"message", ...the message's members...}
            frames.push_back(R"({"type":"message",)" + m.substr(1));
          }
          return frames;
        });
  };
  callbacks.on_message = [state](const std::shared_ptr<WebSocketConnection>& conn,
                                 std::string text) { on_chat_message(*state, conn, text); };
  callbacks.on_closed = [state](const std::shared_ptr<WebSocketConnection>&) {
    state->hub->leave_room(state->subscription);
    state->subscription.reset();
  };
  return callbacks;
}

std::variant<WebSocketCallbacks, HttpResponse> open_notifications(RealtimeHub& hub,
                                                                  const Principal& who) {
  const std::string user = who.id.value().str();
  WebSocketCallbacks callbacks;
  callbacks.on_open = [&hub, user](const std::shared_ptr<WebSocketConnection>& conn) {
    hub.watch_notifications(user, conn);
  };
  callbacks.on_message = [](const std::shared_ptr<WebSocketConnection>& conn, std::string) {
    conn->send_text(error_frame(bad_request("read_only", "This socket only delivers.")));
  };
  callbacks.on_closed = [&hub, user](const std::shared_ptr<WebSocketConnection>& conn) {
    hub.unwatch_notifications(user, conn);
  };
  return callbacks;
}

}  // namespace

WebSocketUpgradeHandler make_websocket_routes(AppContext& app, RealtimeHub& hub,
                                              RateLimiter* limiter) {
  return [&app, &hub,
          limiter](const HttpRequest& raw) -> std::variant<WebSocketCallbacks, HttpResponse> {
    const bool chat_route = raw.path.starts_with(kChatPrefix) &&
                            raw.path.size() > kChatPrefix.size() &&
                            raw.path.find('/', kChatPrefix.size()) == std::string::npos;
    if (!chat_route && raw.path != kNotificationsPath)
      return refuse(not_found("not_found", "No WebSocket endpoint at this path."), raw.path);
    if (raw.method != "GET")
      return refuse(bad_request("invalid_upgrade", "A WebSocket opens with GET."), raw.path);
    HttpRequest req = with_bearer(raw);
    auto who = authenticate(app, req);
    if (!who) return refuse(who.error(), raw.path);
    if (limiter) {
      auto decision = limiter->acquire(RouteClass::chat, who->id.value().str());
      if (!decision.allowed)
        return refuse(too_many_requests(decision.retry_after.count(),
                                        "Too many requests; retry in " +
                                            std::to_string(decision.retry_after.count()) + " s."),
                      raw.path);
    }
    if (chat_route) return open_chat(app, hub, limiter, req, *who);
    return open_notifications(hub, *who);
  };
}

}  // namespace counsel::api
