#pragma once
// The WebSocket routes (/ws/chat/{room_id}, /ws/notifications) as the HttpServer's upgrade
// handler; see api/handlers/websocket_handlers.cpp.
#include "api/app_context.hpp"
#include "api/http_server.hpp"
#include "api/realtime_hub.hpp"

namespace counsel::api {

class RateLimiter;

// `limiter` may be null (rate limits off).
WebSocketUpgradeHandler make_websocket_routes(AppContext& app, RealtimeHub& hub,
                                              RateLimiter* limiter);

}  // namespace counsel::api
