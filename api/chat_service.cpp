#include "api/chat_service.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "api/handler_support.hpp"
#include "domain/aggregates/field_rules.hpp"
#include "domain/aggregates/room.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "infra/logging.hpp"
#include "infra/random_ids.hpp"
#include "projections/chat_queries.hpp"
#include "projections/page_json.hpp"
#include "projections/patient_queries.hpp"
#include "projections/read_queries.hpp"

namespace counsel::api::chat {
namespace {

using projections::ChatMessageRecord;
using projections::ChatParticipant;
using projections::ChatRoomRecord;

constexpr const char* kRoomNotFound = "room_not_found";
// Shown instead of a name the read model can no longer decrypt (an erased subject).
constexpr const char* kErasedName = "[erased]";
constexpr int kMaxMessagesAfter = 1000;

ApiError room_not_found() {
  return not_found(kRoomNotFound, "No such room.");
}

// The name others see: an anonymous client's alias, never a fallback to the real name.
std::string shown_name(const ChatParticipant& p) {
  if (p.role == "client" && p.anonymous) return p.alias.value_or(kErasedName);
  return p.display_name.value_or(kErasedName);
}

std::string sender_name(const ChatRoomRecord& room, const std::string& sender_id) {
  if (sender_id == room.client.id) return shown_name(room.client);
  if (sender_id == room.counselor.id) return shown_name(room.counselor);
  return kErasedName;
}

// Opens sealed message text with each sender's key, looking every key up once. A sender whose
// key is gone (erased) or a value that does not open yields nullopt.
class ContentOpener {
 public:
  explicit ContentOpener(AppContext& app) : app_(app) {}
  std::optional<std::string> open(const std::string& sender_id, const std::string& sealed) {
    auto found = keys_.find(sender_id);
    if (found == keys_.end()) {
      auto subject = Uuid::parse(sender_id);
      found = keys_.emplace(sender_id, subject ? app_.keyring->find(*subject) : std::nullopt).first;
    }
    if (!found->second) return std::nullopt;
    return crypto::decrypt_field(*found->second, sealed, sender_id);
  }

 private:
  AppContext& app_;
  std::unordered_map<std::string, std::optional<crypto::SubjectKey>> keys_;
};

struct MessageView {
  std::string id;
  std::string room_id;
  std::string sender_id;
  std::string sender_name;
  std::optional<std::string> content;  // nullopt: the sender was erased
  std::string message_type;
  Timestamp sent_at{};
};

void write_message(json::Writer& w, const MessageView& m) {
  w.StartObject();
  json::key(w, "id");
  json::write_string(w, m.id);
  json::key(w, "room_id");
  json::write_string(w, m.room_id);
  json::key(w, "sender_id");
  json::write_string(w, m.sender_id);
  json::key(w, "sender_name");
  json::write_string(w, m.sender_name);
  json::key(w, "content");
  if (m.content) {
    json::write_string(w, *m.content);
  } else {
    w.Null();
  }
  json::key(w, "message_type");
  json::write_string(w, m.message_type);
  json::key(w, "sent_at");
  json::write_string(w, format_rfc3339(m.sent_at));
  if (!m.content) {
    json::key(w, "erased");
    w.Bool(true);
  }
  w.EndObject();
}

std::string message_json(const MessageView& m) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  write_message(w, m);
  return {sb.GetString(), sb.GetSize()};
}

MessageView view_of(const ChatRoomRecord& room, const ChatMessageRecord& m, ContentOpener& opener) {
  return MessageView{m.message_id,
                     m.room_id,
                     m.sender_id,
                     sender_name(room, m.sender_id),
                     opener.open(m.sender_id, m.content_enc),
                     m.message_type,
                     m.sent_at};
}

void write_participant(json::Writer& w, const ChatParticipant& p) {
  w.StartObject();
  json::key(w, "id");
  json::write_string(w, p.id);
  json::key(w, "role");
  json::write_string(w, p.role);
  json::key(w, "display_name");
  json::write_string(w, shown_name(p));
  w.EndObject();
}

// {id, participants, session_id, last_message, unread_count, created_at}
void write_room(json::Writer& w, const projections::ChatRoomSummary& summary,
                ContentOpener& opener) {
  const auto& room = summary.room;
  w.StartObject();
  json::key(w, "id");
  json::write_string(w, room.room_id);
  json::key(w, "participants");
  w.StartArray();
  write_participant(w, room.client);
  write_participant(w, room.counselor);
  w.EndArray();
  json::key(w, "session_id");
  if (room.session_id) {
    json::write_string(w, *room.session_id);
  } else {
    w.Null();
  }
  json::key(w, "last_message");
  if (summary.last_message) {
    write_message(w, view_of(room, *summary.last_message, opener));
  } else {
    w.Null();
  }
  json::key(w, "unread_count");
  w.Int64(summary.unread_count);
  json::key(w, "created_at");
  json::write_string(w, format_rfc3339(room.created_at));
  w.EndObject();
}

std::optional<projections::ChatRoomSummary> room_summary(pqxx::connection& conn,
                                                         const std::string& room_id,
                                                         const std::string& viewer) {
  auto room = projections::find_chat_room(conn, room_id);
  if (!room) return std::nullopt;
  projections::ChatRoomSummary summary{std::move(*room), std::nullopt, 0};
  auto last = projections::chat_messages_before(conn, room_id, std::nullopt, 1);
  if (!last.empty()) summary.last_message = std::move(last.front());
  summary.unread_count = projections::chat_read_state(conn, room_id, viewer).unread_count;
  return summary;
}

// --- send ----------------------------------------------------------------------------------

Expected<std::string, ApiError> message_content(const json::Value& body) {
  auto it = body.FindMember("content");
  if (it == body.MemberEnd() || !it->value.IsString())
    return unexpected(validation_failed("content", "expected a string"));
  const std::string_view raw(it->value.GetString(), it->value.GetStringLength());
  if (!fields::valid_utf8(raw))
    return unexpected(validation_failed("content", "expected UTF-8 text"));
  if (raw.find('\0') != std::string_view::npos)
    return unexpected(validation_failed("content", "expected text without U+0000"));
  std::string text = fields::trim(raw);
  const size_t chars = fields::utf8_length(text);
  if (chars < 1 || chars > room::kMaxMessageChars)
    return unexpected(validation_failed(
        "content", "expected 1 to " + std::to_string(room::kMaxMessageChars) + " characters"));
  return text;
}

Expected<room::MessageType, ApiError> message_type(const json::Value& body) {
  auto it = body.FindMember("message_type");
  if (it == body.MemberEnd() || it->value.IsNull()) return room::MessageType::text;
  if (it->value.IsString() &&
      std::string_view(it->value.GetString(), it->value.GetStringLength()) ==
          room::to_string(room::MessageType::text))
    return room::MessageType::text;
  return unexpected(validation_failed("message_type", "expected text"));
}

// A retried request (same Idempotency-Key) names the same message, which the room keeps once.
Uuid message_id_for(const HttpRequest& req, const RoomAccess& room, const Principal& who) {
  if (auto key = idempotency_key(req))
    return uuid_from_text("chat.message|" + room.room_id + "|" + who.id.value().str() + "|" +
                          std::string(*key));
  return new_uuid_v7();
}

std::string stream_of(const RoomAccess& room) {
  return room::room_stream(room::RoomId{Uuid::parse(room.room_id).value_or(Uuid{})});
}

// Participants never change, so a room's pair is cached for the life of the process.
class ParticipantCache {
 public:
  std::optional<std::vector<std::string>> find(const std::string& room_id) {
    std::lock_guard lock(mutex_);
    auto it = rooms_.find(room_id);
    if (it == rooms_.end()) return std::nullopt;
    return it->second;
  }
  void remember(const std::string& room_id, std::vector<std::string> participants) {
    std::lock_guard lock(mutex_);
    if (rooms_.size() >= kCapacity) rooms_.clear();  // crude bound; refills from the database
    rooms_.emplace(room_id, std::move(participants));
  }

 private:
  static constexpr size_t kCapacity = 100'000;
  std::mutex mutex_;
  std::unordered_map<std::string, std::vector<std::string>> rooms_;
};

ParticipantCache& participant_cache() {
  static ParticipantCache cache;
  return cache;
}

}  // namespace

Expected<RoomAccess, ApiError> require_participant(AppContext& app, std::string_view room_id,
                                                   const Principal& who) {
  const std::string id(room_id);
  if (!Uuid::parse(id)) return unexpected(room_not_found());
  auto room = with_db(app, [&](pqxx::connection& c) { return projections::find_chat_room(c, id); });
  const std::string me = who.id.value().str();
  if (!room || (room->client.id != me && room->counselor.id != me))
    return unexpected(room_not_found());
  return RoomAccess{room->room_id, room->client.id, room->counselor.id};
}

Expected<SentMessage, ApiError> send_message(AppContext& app, const HttpRequest& req,
                                             const RoomAccess& room, const Principal& who,
                                             const json::Value& body) {
  if (!body.IsObject())
    return unexpected(bad_request("invalid_json", "The body must be a JSON object."));
  auto content = message_content(body);
  if (!content) return unexpected(content.error());
  auto type = message_type(body);
  if (!type) return unexpected(type.error());

  const std::string sender = who.id.value().str();
  const std::string message_id = message_id_for(req, room, who).str();
  // Sealed with the sender's key: the events log and the read model hold only ciphertext, and
  // erasing the sender's key makes every message they wrote unreadable.
  const std::string sealed =
      crypto::encrypt_field(app.keyring->get_or_create(who.id.value()), *content, sender);
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "message_id");
  json::write_string(w, message_id);
  json::key(w, "sender_id");
  json::write_string(w, sender);
  json::key(w, "content");
  json::write_string(w, sealed);
  json::key(w, "message_type");
  json::write_string(w, room::to_string(*type));
  w.EndObject();
  auto cmd = make_command(req, who, "chat.send_message", stream_of(room),
                          std::string(sb.GetString(), sb.GetSize()));
  auto result = run_command(app, cmd);
  if (!result) return unexpected(result.error());

  wait_for_read_models(app, result->event_positions);
  // What the read model holds wins: a retried request shows the message as first sent.
  auto shown = with_db(app, [&](pqxx::connection& c) -> std::optional<MessageView> {
    auto stored = projections::find_chat_message(c, room.room_id, message_id);
    auto record = projections::find_chat_room(c, room.room_id);
    if (!stored || !record) return std::nullopt;
    ContentOpener opener(app);
    return view_of(*record, *stored, opener);
  });
  if (!shown) {
    // The read models are late: answer with what was just recorded.
    auto participant = with_db(
        app, [&](pqxx::connection& c) { return projections::find_chat_participant(c, sender); });
    shown = MessageView{message_id, room.room_id,
                        sender,     participant ? shown_name(*participant) : kErasedName,
                        *content,   room::to_string(*type),
                        now_utc()};
  }
  return SentMessage{message_json(*shown), result->event_positions};
}

Expected<std::vector<std::string>, ApiError> messages_after(AppContext& app, const RoomAccess& room,
                                                            const std::string& after_message_id,
                                                            int limit) {
  if (after_message_id.empty()) return std::vector<std::string>{};
  return with_db(app, [&](pqxx::connection& c) -> Expected<std::vector<std::string>, ApiError> {
    auto after = projections::chat_message_seq(c, room.room_id, after_message_id);
    if (!after)
      return unexpected(
          bad_request("invalid_parameter", "after must be a message id of this room."));
    auto record = projections::find_chat_room(c, room.room_id);
    if (!record) return unexpected(room_not_found());
    ContentOpener opener(app);
    std::vector<std::string> out;
    for (const auto& m : projections::chat_messages_after(c, room.room_id, *after,
                                                          std::clamp(limit, 1, kMaxMessagesAfter)))
      out.push_back(message_json(view_of(*record, m, opener)));
    return out;
  });
}

std::optional<std::string> frame_from_event(AppContext& app, const EventEnvelope& e) {
  if (e.type != room::MessageSent::type && e.type != room::MessagesRead::type) return std::nullopt;
  auto data = json::parse(e.data_json, nullptr, 64);
  if (!data) return std::nullopt;
  auto decoded = room::decode(e.type, e.version, *data);
  if (!decoded) return std::nullopt;
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  if (const auto* read = std::get_if<room::MessagesRead>(&*decoded)) {
    w.StartObject();
    json::key(w, "type");
    json::write_string(w, "read");
    json::key(w, "room_id");
    json::write_string(w, read->room_id.value().str());
    json::key(w, "user_id");
    json::write_string(w, read->user_id.value().str());
    json::key(w, "up_to");
    json::write_string(w, read->up_to.value().str());
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
  }
  const auto& sent = std::get<room::MessageSent>(*decoded);
  const std::string room_id = sent.room_id.value().str(), sender = sent.sender_id.value().str();
  try {
    ContentOpener opener(app);
    auto content = opener.open(sender, sent.content);
    if (!content) return std::nullopt;
    auto name = with_db(app, [&](pqxx::connection& c) -> std::string {
      if (auto record = projections::find_chat_room(c, room_id))
        return sender_name(*record, sender);
      auto participant = projections::find_chat_participant(c, sender);
      return participant ? shown_name(*participant) : kErasedName;
    });
    auto body = message_json(MessageView{sent.message_id.value().str(), room_id, sender,
                                         std::move(name), std::move(content),
                                         room::to_string(sent.message_type), e.occurred_at});
    return R"({"type":"message",)" + body.substr(1);
  } catch (const std::exception& error) {
    // A fan-out thread calls this: one frame lost to a database hiccup must not stop it.
    logging::warn("chat", std::string("cannot render a message frame: ") + error.what());
    return std::nullopt;
  }
}

std::vector<std::string> participants_of(AppContext& app, const std::string& room_id) {
  auto& cache = participant_cache();
  if (auto known = cache.find(room_id)) return *known;
  try {
    auto room =
        with_db(app, [&](pqxx::connection& c) { return projections::find_chat_room(c, room_id); });
    if (!room) return {};
    std::vector<std::string> participants{room->client.id, room->counselor.id};
    cache.remember(room_id, participants);
    return participants;
  } catch (const std::exception& error) {
    logging::warn("chat", std::string("cannot read a room's participants: ") + error.what());
    return {};
  }
}

Expected<std::vector<log::Position>, ApiError> mark_read(AppContext& app, const HttpRequest& req,
                                                         const RoomAccess& room,
                                                         const Principal& who,
                                                         const json::Value& body) {
  if (!body.IsObject())
    return unexpected(bad_request("invalid_json", "The body must be a JSON object."));
  auto text = json::get_string(body, "up_to");
  auto up_to = text ? Uuid::parse(*text) : std::nullopt;
  if (!up_to)
    return unexpected(validation_failed("up_to", "expected the id of a message of the room"));
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "user_id");
  json::write_string(w, who.id.value().str());
  json::key(w, "up_to");
  json::write_string(w, up_to->str());
  w.EndObject();
  auto cmd = make_command(req, who, "chat.mark_read", stream_of(room),
                          std::string(sb.GetString(), sb.GetSize()));
  auto result = run_command(app, cmd);
  if (!result) return unexpected(result.error());
  return result->event_positions;
}

// --- for the REST handlers -----------------------------------------------------------------

Expected<OpenedRoom, ApiError> open_room(AppContext& app, const HttpRequest& req,
                                         const Principal& who, const json::Value& body) {
  if (who.role != Role::client && who.role != Role::counselor)
    return unexpected(forbidden("forbidden", "Only clients and counsellors chat."));
  auto given = [&](const char* name) -> const json::Value* {
    auto it = body.FindMember(name);
    return it == body.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
  };
  const json::Value* session_value = given("session_id");
  const json::Value* participant_value = given("participant_id");
  if ((session_value == nullptr) == (participant_value == nullptr))
    return unexpected(validation_failed(participant_value ? "session_id" : "participant_id",
                                        "give either participant_id or session_id"));
  auto id_in = [](const json::Value* v) -> std::optional<Uuid> {
    if (!v->IsString()) return std::nullopt;
    return Uuid::parse({v->GetString(), v->GetStringLength()});
  };

  const std::string me = who.id.value().str();
  std::string client_id, counselor_id, session_id;
  bool needs_booking = false;
  if (session_value) {
    // A booking names the pair: any participant of it may open their room.
    auto id = id_in(session_value);
    auto session =
        id ? with_db(app,
                     [&](pqxx::connection& c) { return projections::get_session(c, id->str()); })
           : std::nullopt;
    if (!session || (session->client_id != me && session->counselor_id != me))
      return unexpected(not_found("session_not_found", "No such session."));
    client_id = session->client_id;
    counselor_id = session->counselor_id;
    session_id = id->str();
  } else {
    auto id = id_in(participant_value);
    if (!id) return unexpected(not_found("user_not_found", "No such user."));
    const std::string other = id->str();
    if (other == me)
      return unexpected(
          unprocessable("cannot_chat_with_yourself", "A room needs another participant."));
    auto participant = with_db(
        app, [&](pqxx::connection& c) { return projections::find_chat_participant(c, other); });
    if (!participant) return unexpected(not_found("user_not_found", "No such user."));
    if (who.role == Role::client && participant->role == "counselor") {
      // A client reaches a counsellor they booked (whatever became of the booking), or one who
      // reached out to them first; a counsellor may reach out to any client.
      needs_booking = true;
      client_id = me;
      counselor_id = other;
    } else if (who.role == Role::counselor && participant->role == "client") {
      client_id = other;
      counselor_id = me;
    } else {
      return unexpected(
          unprocessable("invalid_participant", "A room is between a client and a counsellor."));
    }
  }

  // One room per pair, whoever opens it first and however: its id is derived from the pair.
  const auto& [low, high] = std::minmax(client_id, counselor_id);
  const std::string room_id = uuid_from_text("room|" + low + "|" + high).str();
  auto existing = with_db(app, [&](pqxx::connection& c) { return room_summary(c, room_id, me); });
  if (existing) {
    ContentOpener opener(app);
    rapidjson::StringBuffer sb;
    json::Writer w(sb);
    write_room(w, *existing, opener);
    return OpenedRoom{std::string(sb.GetString(), sb.GetSize()), false, {}};
  }
  const bool booked = !needs_booking || with_db(app, [&](pqxx::connection& c) {
    return projections::has_session_between(c, counselor_id, client_id);
  });
  if (!booked)
    return unexpected(unprocessable(
        "no_booking", "You can message a counsellor once you have booked a session with them."));

  rapidjson::StringBuffer data;
  json::Writer dw(data);
  dw.StartObject();
  json::key(dw, "room_id");
  json::write_string(dw, room_id);
  json::key(dw, "participants");
  dw.StartArray();
  json::write_string(dw, client_id);
  json::write_string(dw, counselor_id);
  dw.EndArray();
  json::key(dw, "session_id");
  json::write_string(dw, session_id);
  dw.EndObject();
  auto cmd =
      make_command(req, who, "room.open", room::room_stream(room::RoomId{*Uuid::parse(room_id)}),
                   std::string(data.GetString(), data.GetSize()));
  auto result = run_command(app, cmd);
  if (!result) return unexpected(result.error());
  wait_for_read_models(app, result->event_positions);

  auto summary = with_db(app, [&](pqxx::connection& c) {
    auto found = room_summary(c, room_id, me);
    if (found) return *found;
    // The read models are late: answer with what was just recorded.
    auto participant = [&](const std::string& id, const char* role) {
      auto p = projections::find_chat_participant(c, id);
      return p ? *p : ChatParticipant{id, role, std::nullopt, false, std::nullopt};
    };
    ChatRoomRecord record{room_id, participant(client_id, "client"),
                          participant(counselor_id, "counselor"),
                          session_id.empty() ? std::nullopt : std::optional(session_id), now_utc()};
    return projections::ChatRoomSummary{std::move(record), std::nullopt, 0};
  });
  ContentOpener opener(app);
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  write_room(w, summary, opener);
  return OpenedRoom{std::string(sb.GetString(), sb.GetSize()), !result->event_positions.empty(),
                    result->event_positions};
}

std::string rooms_of(AppContext& app, const Principal& who, int page, int per_page) {
  auto found = with_db(app, [&](pqxx::connection& c) {
    return projections::chat_rooms_of(c, who.id.value().str(), page, per_page);
  });
  ContentOpener opener(app);
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "results");
  w.StartArray();
  for (const auto& summary : found.rooms) write_room(w, summary, opener);
  w.EndArray();
  projections::write_page_members(w, found.total, page, per_page);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

Expected<std::string, ApiError> messages_page(AppContext& app, const RoomAccess& room,
                                              const std::optional<std::string>& before_message_id,
                                              int limit) {
  return with_db(app, [&](pqxx::connection& c) -> Expected<std::string, ApiError> {
    std::optional<int64_t> before;
    if (before_message_id) {
      before = projections::chat_message_seq(c, room.room_id, *before_message_id);
      if (!before)
        return unexpected(
            bad_request("invalid_parameter", "before must be a message id of this room."));
    }
    auto record = projections::find_chat_room(c, room.room_id);
    if (!record) return unexpected(room_not_found());
    // One more than asked for tells whether older messages remain.
    auto messages = projections::chat_messages_before(c, room.room_id, before, limit + 1);
    const bool more = static_cast<int>(messages.size()) > limit;
    if (more) messages.pop_back();
    ContentOpener opener(app);
    rapidjson::StringBuffer sb;
    json::Writer w(sb);
    w.StartObject();
    json::key(w, "results");
    w.StartArray();
    for (const auto& m : messages) write_message(w, view_of(*record, m, opener));
    w.EndArray();
    json::key(w, "next_before");
    if (more) {
      json::write_string(w, messages.back().message_id);
    } else {
      w.Null();
    }
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
  });
}

std::string read_state_json(AppContext& app, const RoomAccess& room, const Principal& who) {
  auto state = with_db(app, [&](pqxx::connection& c) {
    return projections::chat_read_state(c, room.room_id, who.id.value().str());
  });
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "room_id");
  json::write_string(w, room.room_id);
  json::key(w, "up_to");
  if (state.up_to) {
    json::write_string(w, *state.up_to);
  } else {
    w.Null();
  }
  json::key(w, "unread_count");
  w.Int64(state.unread_count);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

AccessRecord history_access(const Principal& who, const RoomAccess& room) {
  auto client = Uuid::parse(room.client_id);
  return AccessRecord{who.actor(), UserId{client.value_or(Uuid{})}, access::Resource::chat_history,
                      room.room_id, access::Basis::care_relationship};
}

}  // namespace counsel::api::chat
