#pragma once
// Reads of read.chat_rooms, read.chat_messages and read.chat_reads for the api. They return
// typed rows with message text still sealed (content_enc) and the participants' names as
// read.users holds them: decrypting, and which name a viewer sees (an anonymous client's
// alias), are the api's decisions (api/chat_service.cpp).
#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/time.hpp"

namespace counsel::projections {

// A participant as read.users knows them; name fields are nullopt once erased (or before the
// user's registration reached the read model).
struct ChatParticipant {
  std::string id;
  std::string role;  // "client" / "counselor" by the room's own record when users lacks a row
  std::optional<std::string> display_name;
  bool anonymous = false;
  std::optional<std::string> alias;
};

struct ChatRoomRecord {
  std::string room_id;
  ChatParticipant client;
  ChatParticipant counselor;
  std::optional<std::string> session_id;
  Timestamp created_at{};
};

struct ChatMessageRecord {
  std::string message_id;
  std::string room_id;
  std::string sender_id;
  std::string content_enc;  // "enc:v1:..." sealed with the sender's subject key
  std::string message_type;
  Timestamp sent_at{};
  int64_t seq = 0;  // the room's order
};

struct ChatRoomSummary {
  ChatRoomRecord room;
  std::optional<ChatMessageRecord> last_message;
  int64_t unread_count = 0;  // the other participant's messages after the viewer's read marker
};

struct ChatRoomPage {
  std::vector<ChatRoomSummary> rooms;
  int64_t total = 0;
};

// nullopt when there is no such room (or `room_id` is not a UUID).
std::optional<ChatRoomRecord> find_chat_room(pqxx::connection& conn, const std::string& room_id);
// One user as a chat participant; nullopt when read.users has no such user.
std::optional<ChatParticipant> find_chat_participant(pqxx::connection& conn,
                                                     const std::string& user_id);

// The rooms `user_id` takes part in, the most recently active first (page >= 1, per_page
// 1..100).
ChatRoomPage chat_rooms_of(pqxx::connection& conn, const std::string& user_id, int page,
                           int per_page);

// The place of a message in its room; nullopt when the room holds no such message.
std::optional<int64_t> chat_message_seq(pqxx::connection& conn, const std::string& room_id,
                                        const std::string& message_id);
std::optional<ChatMessageRecord> find_chat_message(pqxx::connection& conn,
                                                   const std::string& room_id,
                                                   const std::string& message_id);
// Newest first, at most `limit`, only those before `before_seq` when given.
std::vector<ChatMessageRecord> chat_messages_before(pqxx::connection& conn,
                                                    const std::string& room_id,
                                                    std::optional<int64_t> before_seq, int limit);
// Oldest first, at most `limit`, strictly after `after_seq`.
std::vector<ChatMessageRecord> chat_messages_after(pqxx::connection& conn,
                                                   const std::string& room_id, int64_t after_seq,
                                                   int limit);

struct ChatReadState {
  std::optional<std::string> up_to;  // the message id of the user's read marker
  int64_t unread_count = 0;
};
ChatReadState chat_read_state(pqxx::connection& conn, const std::string& room_id,
                              const std::string& user_id);

}  // namespace counsel::projections
