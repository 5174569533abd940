#pragma once
// The room aggregate (stream room-<uuid>): a chat room between one client and one counsellor,
// its messages and each participant's read marker. Its hard invariant: only participants post
// or read. Message text arrives sealed ("enc:v1:...") with the sender's subject key, so the
// aggregate never sees clear text; the api checks the clear-text rules (length, UTF-8) before it
// encrypts, and who may open a room with whom (a booking between them, or a counsellor reaching
// out), which needs the read models.
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "domain/events/envelope.hpp"
#include "domain/expected.hpp"
#include "domain/ids.hpp"
#include "domain/json.hpp"
#include "domain/named_type.hpp"
#include "domain/rejection.hpp"
#include "domain/time.hpp"

namespace counsel::room {

using RoomId = named_type<Uuid, struct room_id_tag>;
using MessageId = named_type<Uuid, struct message_id_tag>;

inline std::string room_stream(const RoomId& id) {
  return "room-" + id.value().str();
}

// The clear-text limit of one message (code points, after trimming; checked by the api).
inline constexpr size_t kMaxMessageChars = 4000;
// The longest sealed form such a message can take: up to 4 UTF-8 bytes per code point plus the
// 24-byte nonce and 16-byte tag, in base64, after "enc:v1:". Derived rather than rounded so that
// every message the api accepts is one the aggregate accepts.
inline constexpr size_t kMaxSealedContentChars = 7 + (4 * kMaxMessageChars + 24 + 16 + 2) / 3 * 4;

enum class MessageType { text };
const char* to_string(MessageType t);

// ---- events ----
struct RoomOpened {
  static constexpr const char* type = "room.opened";
  RoomId room_id;
  UserId client_id;
  UserId counselor_id;
  std::optional<SessionId> session_id;  // the booking the room was opened from, if any
  friend bool operator==(const RoomOpened&, const RoomOpened&) = default;
};
struct MessageSent {
  static constexpr const char* type = "chat.message_sent";
  RoomId room_id;
  MessageId message_id;
  UserId sender_id;
  std::string content;  // enc, subject sender_id
  MessageType message_type = MessageType::text;
  friend bool operator==(const MessageSent&, const MessageSent&) = default;
};
struct MessagesRead {
  static constexpr const char* type = "chat.messages_read";
  RoomId room_id;
  UserId user_id;
  MessageId up_to;  // every message up to and including this one has been read
  friend bool operator==(const MessagesRead&, const MessagesRead&) = default;
};

using Event = std::variant<RoomOpened, MessageSent, MessagesRead>;
std::string_view event_type(const Event& e);

// ---- state ----
struct ReadMarker {
  MessageId up_to;
  int64_t position = 0;
};

struct State {
  RoomId room_id;  // from the stream key
  bool opened = false;
  UserId client_id;
  UserId counselor_id;
  std::optional<SessionId> session_id;
  // Each message's place in the room (1, 2, ...): ids stay unique (a redelivered or retried send
  // adds nothing) and read markers compare by it.
  std::unordered_map<MessageId, int64_t> message_positions;
  std::unordered_map<UserId, ReadMarker> read_markers;

  bool is_participant(const UserId& user) const {
    return opened && (user == client_id || user == counselor_id);
  }
};
State initial_state(const RoomId& room_id);

// ---- commands ----
struct Open {  // a participant (or the system); the api has checked who may talk to whom
  RoomId room_id;
  UserId client_id;
  UserId counselor_id;
  std::optional<SessionId> session_id;
};
struct SendMessage {  // a participant, in their own name
  MessageId message_id;
  UserId sender_id;
  std::string content;
  MessageType message_type = MessageType::text;
};
struct MarkRead {  // a participant, for themself
  UserId user_id;
  MessageId up_to;
};
using Command = std::variant<Open, SendMessage, MarkRead>;

// room.open {room_id, participants: [client_id, counselor_id], session_id (or "")},
// chat.send_message {message_id, sender_id, content, message_type}, chat.mark_read {user_id,
// up_to}.
bool handles_command(std::string_view command_type);
Expected<Command, Rejection> parse_command(std::string_view command_type, const json::Value& data);
Expected<std::vector<Event>, Rejection> decide(const State& s, const Command& c, const Actor& actor,
                                               Timestamp now);
// Tolerant of redelivery: a repeated opening, message or older read marker changes nothing.
void evolve(State& s, const Event& e);
NewEvent encode(const Event& e);
std::optional<Event> decode(std::string_view type, int version, const json::Value& data);

// ---- views (command result bodies; the api renders what people see from the read models) ----
// {id, client_id, counselor_id, session_id (or null)}; "null" before the room is opened.
std::string room_view_json(const State& s);
// {id, room_id, position}; "null" for a message the room does not hold.
std::string message_view_json(const State& s, const MessageId& id);
// {room_id, user_id, up_to (or null)}.
std::string read_view_json(const State& s, const UserId& user);

}  // namespace counsel::room
