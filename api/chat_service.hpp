#pragma once
// Chat rooms as the api sees them: the one implementation behind both the REST routes
// (handlers/chat_handlers.cpp) and the WebSocket transport. Who may enter a room, how a message
// is checked, sealed with its sender's subject key and sent through the room aggregate, and how
// it is shown (decrypted, an anonymous client under their alias) live here and nowhere else.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/access_recorder.hpp"
#include "api/app_context.hpp"
#include "api/http_message.hpp"
#include "api/problem.hpp"
#include "domain/events/envelope.hpp"
#include "domain/expected.hpp"
#include "domain/json.hpp"
#include "infra/log/log.hpp"

namespace counsel::api::chat {

struct RoomAccess {
  std::string room_id;
  std::string client_id;
  std::string counselor_id;
};

// The room's history is its client's data: a counsellor reading it is an access to record (the
// client's own reads are skipped by the recorder).
AccessRecord history_access(const Principal& who, const RoomAccess& room);

// 404 room_not_found unless `who` is a participant (others never learn the room exists).
Expected<RoomAccess, ApiError> require_participant(AppContext& app, std::string_view room_id,
                                                   const Principal& who);

// The single send path (REST and WebSocket): validates content (1..4000 chars after trim, valid
// UTF-8, no NUL) and message_type, encrypts with the sender's subject key, submits
// chat.send_message with a fresh uuid v7 message id (or one derived from Idempotency-Key), waits
// for the read models; returns the message JSON and the command's positions.
struct SentMessage {
  std::string json;
  std::vector<log::Position> positions;
};
Expected<SentMessage, ApiError> send_message(AppContext& app, const HttpRequest& req,
                                             const RoomAccess& room, const Principal& who,
                                             const json::Value& body);

// Messages of the room strictly after `after_message_id` (oldest first, ≤ limit), for a
// reconnecting socket; "" = none.
Expected<std::vector<std::string>, ApiError> messages_after(AppContext& app, const RoomAccess& room,
                                                            const std::string& after_message_id,
                                                            int limit);

// A chat.message_sent / chat.messages_read event from the events log rendered as the frame
// participants see: {"type":"message", ...message json...} / {"type":"read","room_id","user_id",
// "up_to"}; nullopt for other events or undecryptable content.
std::optional<std::string> frame_from_event(AppContext& app, const EventEnvelope& e);

// The room's participant ids from an event (for fan-out): from the read model, cached.
std::vector<std::string> participants_of(AppContext& app, const std::string& room_id);

// {up_to} (a message id of the room): submits chat.mark_read; 400 validation_failed for a
// missing or malformed up_to, 422 unknown_message for a message the room does not hold.
Expected<std::vector<log::Position>, ApiError> mark_read(AppContext& app, const HttpRequest& req,
                                                         const RoomAccess& room,
                                                         const Principal& who,
                                                         const json::Value& body);

// --- what only the REST routes need (handlers/chat_handlers.cpp) ---------------------------

// POST /api/v1/chatrooms {participant_id} or {session_id}: the caller's room with that person
// (one per client-counsellor pair), opened unless it exists. 404 session_not_found /
// user_not_found, 422 no_booking (a client and a counsellor they never booked, who never
// opened a room with them either),
// invalid_participant (not a client-counsellor pair), cannot_chat_with_yourself.
struct OpenedRoom {
  std::string json;  // the room as GET /api/v1/chatrooms lists it
  bool created = false;
  std::vector<log::Position> positions;
};
Expected<OpenedRoom, ApiError> open_room(AppContext& app, const HttpRequest& req,
                                         const Principal& who, const json::Value& body);

// {results: [room...], total, page, per_page, total_pages, has_next, has_previous}: the
// caller's rooms, the most recently active first. Each room: {id, participants [{id, role,
// display_name}], session_id, last_message, unread_count, created_at}.
std::string rooms_of(AppContext& app, const Principal& who, int page, int per_page);

// {results: [message...] newest first, next_before}: at most `limit` messages older than
// `before_message_id` (400 invalid_parameter unless it is a message of the room).
Expected<std::string, ApiError> messages_page(AppContext& app, const RoomAccess& room,
                                              const std::optional<std::string>& before_message_id,
                                              int limit);

// {room_id, up_to (the caller's read marker, or null), unread_count}
std::string read_state_json(AppContext& app, const RoomAccess& room, const Principal& who);

}  // namespace counsel::api::chat
