#include "domain/aggregates/room.hpp"

#include "domain/aggregates/field_rules.hpp"

namespace counsel::room {
namespace {

constexpr const char* kInvalidCommand = "invalid_command";
constexpr const char* kInvalidEvent = "invalid_event";
constexpr std::string_view kSealedPrefix = "enc:v1:";

Rejection reject(RejectionKind kind, std::string code, std::string message) {
  return Rejection{kind, std::move(code), std::move(message)};
}

Expected<std::vector<Event>, Rejection> forbid(std::string code, std::string message) {
  return unexpected(reject(RejectionKind::forbidden, std::move(code), std::move(message)));
}

// "" (no booking behind the room) or a session id.
Expected<std::optional<SessionId>, Rejection> read_session(const fields::Reader& r) {
  auto text = json::get_string(r.obj, "session_id");
  if (!text) return unexpected(r.fail("session_id", "expected \"\" or a UUID"));
  if (text->empty()) return std::optional<SessionId>();
  auto id = Uuid::parse(*text);
  if (!id || id->is_nil()) return unexpected(r.fail("session_id", "expected \"\" or a UUID"));
  return std::optional<SessionId>(SessionId{*id});
}

// Message text is only ever stored sealed: plain text here means the api forgot to encrypt.
Expected<std::string, Rejection> read_content(const fields::Reader& r) {
  auto content = r.string("content", kMaxSealedContentChars);
  if (!content) return unexpected(content.error());
  if (!content->starts_with(kSealedPrefix) || content->size() == kSealedPrefix.size())
    return unexpected(r.fail("content", "expected an encrypted value (enc:v1:...)"));
  return std::move(*content);
}

Expected<MessageType, Rejection> read_message_type(const fields::Reader& r) {
  auto text = json::get_string(r.obj, "message_type");
  if (text && *text == to_string(MessageType::text)) return MessageType::text;
  return unexpected(r.fail("message_type", "expected text"));
}

template <class Id>
Expected<Id, Rejection> read_id(const fields::Reader& r, const char* field) {
  auto id = r.uuid(field);
  if (!id) return unexpected(id.error());
  return Id{*id};
}

Expected<Event, Rejection> read_event(std::string_view type, const json::Value& data) {
  if (!data.IsObject())
    return unexpected(reject(RejectionKind::invalid, kInvalidEvent, "expected a JSON object"));
  fields::Reader r{data, kInvalidEvent};
  auto room = read_id<RoomId>(r, "room_id");
  if (!room) return unexpected(room.error());
  if (type == RoomOpened::type) {
    auto client = read_id<UserId>(r, "client_id");
    if (!client) return unexpected(client.error());
    auto counselor = read_id<UserId>(r, "counselor_id");
    if (!counselor) return unexpected(counselor.error());
    auto session = read_session(r);
    if (!session) return unexpected(session.error());
    return Event{RoomOpened{*room, *client, *counselor, *session}};
  }
  if (type == MessageSent::type) {
    auto message = read_id<MessageId>(r, "message_id");
    if (!message) return unexpected(message.error());
    auto sender = read_id<UserId>(r, "sender_id");
    if (!sender) return unexpected(sender.error());
    auto content = read_content(r);
    if (!content) return unexpected(content.error());
    auto message_type = read_message_type(r);
    if (!message_type) return unexpected(message_type.error());
    return Event{MessageSent{*room, *message, *sender, std::move(*content), *message_type}};
  }
  if (type == MessagesRead::type) {
    auto user = read_id<UserId>(r, "user_id");
    if (!user) return unexpected(user.error());
    auto up_to = read_id<MessageId>(r, "up_to");
    if (!up_to) return unexpected(up_to.error());
    return Event{MessagesRead{*room, *user, *up_to}};
  }
  return unexpected(reject(RejectionKind::invalid, "unknown_type",
                           "the room aggregate has no event " + std::string(type)));
}

Expected<Command, Rejection> read_open(const fields::Reader& r) {
  auto room = read_id<RoomId>(r, "room_id");
  if (!room) return unexpected(room.error());
  auto* participants = json::get_array(r.obj, "participants");
  constexpr const char* kPair = "expected [client_id, counselor_id]: two different user ids";
  if (!participants || participants->Size() != 2) return unexpected(r.fail("participants", kPair));
  std::vector<UserId> pair;
  for (const auto& p : participants->GetArray()) {
    auto id = p.IsString() ? Uuid::parse({p.GetString(), p.GetStringLength()}) : std::nullopt;
    if (!id || id->is_nil()) return unexpected(r.fail("participants", kPair));
    pair.push_back(UserId{*id});
  }
  if (pair[0] == pair[1]) return unexpected(r.fail("participants", kPair));
  auto session = read_session(r);
  if (!session) return unexpected(session.error());
  return Command{Open{*room, pair[0], pair[1], *session}};
}

Expected<Command, Rejection> read_send(const fields::Reader& r) {
  auto message = read_id<MessageId>(r, "message_id");
  if (!message) return unexpected(message.error());
  auto sender = read_id<UserId>(r, "sender_id");
  if (!sender) return unexpected(sender.error());
  auto content = read_content(r);
  if (!content) return unexpected(content.error());
  auto message_type = read_message_type(r);
  if (!message_type) return unexpected(message_type.error());
  return Command{SendMessage{*message, *sender, std::move(*content), *message_type}};
}

Expected<Command, Rejection> read_mark_read(const fields::Reader& r) {
  auto user = read_id<UserId>(r, "user_id");
  if (!user) return unexpected(user.error());
  auto up_to = read_id<MessageId>(r, "up_to");
  if (!up_to) return unexpected(up_to.error());
  return Command{MarkRead{*user, *up_to}};
}

// ---- decisions ----

struct Decider {
  const State& s;
  const Actor& actor;

  bool is_system() const { return actor.role == Role::system; }

  Expected<std::vector<Event>, Rejection> must_be_open() const {
    if (!s.opened)
      return unexpected(reject(RejectionKind::not_found, "room_not_found", "no such room"));
    return std::vector<Event>{};
  }

  // `user` is who the command speaks for; the actor must be that user (or the system), and a
  // participant.
  Expected<std::vector<Event>, Rejection> must_act_as_participant(const UserId& user) const {
    if (!is_system() && !s.is_participant(actor.id))
      return forbid("not_participant", "only the room's participants may do this");
    if (!is_system() && user != actor.id)
      return forbid("not_participant", "participants act in their own name only");
    if (!s.is_participant(user))
      return forbid("not_participant", "only the room's participants may do this");
    return std::vector<Event>{};
  }

  Expected<std::vector<Event>, Rejection> operator()(const Open& c) const {
    if (c.room_id != s.room_id)
      return unexpected(reject(RejectionKind::invalid, "stream_mismatch",
                               "room_id does not match the room stream"));
    // The participants' places are fixed by their roles: a client cannot open a room as its
    // counsellor, nor the other way round.
    const bool as_client = actor.role == Role::client && actor.id == c.client_id;
    const bool as_counselor = actor.role == Role::counselor && actor.id == c.counselor_id;
    if (!is_system() && !as_client && !as_counselor)
      return forbid("not_participant", "a room is opened by one of its participants");
    if (s.opened) {
      if (s.client_id == c.client_id && s.counselor_id == c.counselor_id)
        return std::vector<Event>{};  // already open: asking again changes nothing
      return unexpected(reject(RejectionKind::conflict, "room_participants_differ",
                               "this room already exists between other participants"));
    }
    return std::vector<Event>{RoomOpened{c.room_id, c.client_id, c.counselor_id, c.session_id}};
  }

  Expected<std::vector<Event>, Rejection> operator()(const SendMessage& c) const {
    if (auto e = must_be_open(); !e) return e;
    if (auto e = must_act_as_participant(c.sender_id); !e) return e;
    if (s.message_positions.contains(c.message_id)) return std::vector<Event>{};
    return std::vector<Event>{
        MessageSent{s.room_id, c.message_id, c.sender_id, c.content, c.message_type}};
  }

  Expected<std::vector<Event>, Rejection> operator()(const MarkRead& c) const {
    if (auto e = must_be_open(); !e) return e;
    if (auto e = must_act_as_participant(c.user_id); !e) return e;
    auto message = s.message_positions.find(c.up_to);
    if (message == s.message_positions.end())
      return unexpected(reject(RejectionKind::unprocessable, "unknown_message",
                               "up_to must name a message of this room"));
    auto marker = s.read_markers.find(c.user_id);
    // A marker never moves back: a late or repeated read receipt changes nothing.
    if (marker != s.read_markers.end() && marker->second.position >= message->second)
      return std::vector<Event>{};
    return std::vector<Event>{MessagesRead{s.room_id, c.user_id, c.up_to}};
  }
};

void write_data(fields::DataBuilder& b, const Event& event) {
  std::visit(
      [&](const auto& e) {
        using E = std::decay_t<decltype(e)>;
        b.id("room_id", e.room_id.value());
        if constexpr (std::is_same_v<E, RoomOpened>) {
          b.id("client_id", e.client_id.value())
              .id("counselor_id", e.counselor_id.value())
              .string("session_id", e.session_id ? e.session_id->value().str() : "");
        } else if constexpr (std::is_same_v<E, MessageSent>) {
          b.id("message_id", e.message_id.value())
              .id("sender_id", e.sender_id.value())
              .string("content", e.content)
              .string("message_type", to_string(e.message_type));
        } else {
          b.id("user_id", e.user_id.value()).id("up_to", e.up_to.value());
        }
      },
      event);
}

class ViewWriter {
 public:
  ViewWriter() : w_(sb_) { w_.StartObject(); }
  ViewWriter& str(std::string_view k, std::string_view v) {
    json::key(w_, k);
    json::write_string(w_, v);
    return *this;
  }
  ViewWriter& id_or_null(std::string_view k, const std::optional<Uuid>& v) {
    json::key(w_, k);
    if (v) {
      json::write_string(w_, v->str());
    } else {
      w_.Null();
    }
    return *this;
  }
  ViewWriter& integer(std::string_view k, int64_t v) {
    json::key(w_, k);
    w_.Int64(v);
    return *this;
  }
  std::string done() {
    w_.EndObject();
    return {sb_.GetString(), sb_.GetSize()};
  }

 private:
  rapidjson::StringBuffer sb_;
  json::Writer w_;
};

}  // namespace

const char* to_string(MessageType t) {
  switch (t) {
    case MessageType::text:
      return "text";
  }
  return "text";
}

std::string_view event_type(const Event& e) {
  return std::visit([](const auto& x) -> std::string_view { return x.type; }, e);
}

State initial_state(const RoomId& room_id) {
  State s;
  s.room_id = room_id;
  return s;
}

bool handles_command(std::string_view t) {
  return t == "room.open" || t == "chat.send_message" || t == "chat.mark_read";
}

Expected<Command, Rejection> parse_command(std::string_view type, const json::Value& data) {
  if (!data.IsObject())
    return unexpected(reject(RejectionKind::invalid, kInvalidCommand, "expected a JSON object"));
  fields::Reader r{data, kInvalidCommand};
  if (type == "room.open") return read_open(r);
  if (type == "chat.send_message") return read_send(r);
  if (type == "chat.mark_read") return read_mark_read(r);
  return unexpected(reject(RejectionKind::invalid, "unknown_command",
                           "the room aggregate does not handle " + std::string(type)));
}

Expected<std::vector<Event>, Rejection> decide(const State& s, const Command& command,
                                               const Actor& actor, Timestamp) {
  if (s.room_id.value().is_nil())
    return unexpected(
        reject(RejectionKind::invalid, "invalid_stream", "a room stream is room-<uuid>"));
  return std::visit(Decider{s, actor}, command);
}

void evolve(State& s, const Event& event) {
  std::visit(
      [&](const auto& e) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, RoomOpened>) {
          if (s.opened) return;  // a redelivered opening changes nothing
          s.opened = true;
          s.client_id = e.client_id;
          s.counselor_id = e.counselor_id;
          s.session_id = e.session_id;
        } else if constexpr (std::is_same_v<E, MessageSent>) {
          const auto next = static_cast<int64_t>(s.message_positions.size()) + 1;
          s.message_positions.try_emplace(e.message_id, next);
        } else {
          auto message = s.message_positions.find(e.up_to);
          if (message == s.message_positions.end()) return;
          auto& marker = s.read_markers[e.user_id];
          if (message->second > marker.position) marker = ReadMarker{e.up_to, message->second};
        }
      },
      event);
}

NewEvent encode(const Event& e) {
  fields::DataBuilder b;
  write_data(b, e);
  return NewEvent{std::string(event_type(e)), 1, b.canonical()};
}

std::optional<Event> decode(std::string_view type, int version, const json::Value& data) {
  if (version != 1) return std::nullopt;
  auto e = read_event(type, data);
  if (!e) return std::nullopt;
  return std::move(*e);
}

std::string room_view_json(const State& s) {
  if (!s.opened) return "null";
  return ViewWriter()
      .str("client_id", s.client_id.value().str())
      .str("counselor_id", s.counselor_id.value().str())
      .str("id", s.room_id.value().str())
      .id_or_null("session_id",
                  s.session_id ? std::optional<Uuid>(s.session_id->value()) : std::nullopt)
      .done();
}

std::string message_view_json(const State& s, const MessageId& id) {
  auto message = s.message_positions.find(id);
  if (message == s.message_positions.end()) return "null";
  return ViewWriter()
      .str("id", id.value().str())
      .integer("position", message->second)
      .str("room_id", s.room_id.value().str())
      .done();
}

std::string read_view_json(const State& s, const UserId& user) {
  auto marker = s.read_markers.find(user);
  return ViewWriter()
      .str("room_id", s.room_id.value().str())
      .id_or_null("up_to", marker == s.read_markers.end()
                               ? std::nullopt
                               : std::optional<Uuid>(marker->second.up_to.value()))
      .str("user_id", user.value().str())
      .done();
}

}  // namespace counsel::room
