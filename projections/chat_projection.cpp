// chat: rooms, their messages and each participant's read marker. Message text stays sealed
// with the sender's subject key here as in the events (content_enc): the api decrypts it per
// request, so a database dump reveals no conversation and erasing a sender's key silences their
// messages in the read model too, with no rewrite. All of a room's events share its stream (one
// partition, in order), so a message always finds its room and a read marker its message.
#include "projections/event_data.hpp"
#include "projections/prepared_sql.hpp"
#include "projections/read_models.hpp"

namespace counsel::projections {
namespace {

class ChatProjection final : public Projection {
 public:
  std::string_view name() const override { return "chat"; }
  bool rows_are_partition_local() const override { return true; }
  std::vector<std::string> tables() const override {
    return {"chat_rooms", "chat_messages", "chat_reads"};
  }
  bool handles(std::string_view type) const override {
    return type == "room.opened" || type == "chat.message_sent" || type == "chat.messages_read";
  }

  std::vector<std::string> query_only_indexes() const override {
    return {"chat_rooms_client_idx", "chat_rooms_counselor_idx"};
  }

  void create_tables(pqxx::work& tx, const std::string& schema) const override {
    const auto rooms = qualified(tx, schema, "chat_rooms");
    const auto messages = qualified(tx, schema, "chat_messages");
    tx.exec0("CREATE TABLE IF NOT EXISTS " + rooms +
             " (room_id uuid PRIMARY KEY,"
             " client_id uuid NOT NULL,"
             " counselor_id uuid NOT NULL,"
             " session_id uuid,"  // the booking it was opened from; NULL when none
             " created_at timestamptz NOT NULL,"
             " last_message_at timestamptz)");
    tx.exec0("CREATE INDEX IF NOT EXISTS chat_rooms_client_idx ON " + rooms + " (client_id)");
    tx.exec0("CREATE INDEX IF NOT EXISTS chat_rooms_counselor_idx ON " + rooms + " (counselor_id)");
    tx.exec0("CREATE TABLE IF NOT EXISTS " + messages +
             " (room_id uuid NOT NULL,"
             " message_id uuid NOT NULL,"
             " sender_id uuid NOT NULL,"
             " content_enc text NOT NULL,"  // "enc:v1:..." with the sender's key
             " message_type text NOT NULL,"
             " sent_at timestamptz NOT NULL,"
             " seq bigint NOT NULL,"  // the event's stream sequence: the room's order
             " PRIMARY KEY (room_id, message_id))");
    // Pages of history walk the room's order from either end.
    tx.exec0("CREATE UNIQUE INDEX IF NOT EXISTS chat_messages_room_seq_idx ON " + messages +
             " (room_id, seq)");
    tx.exec0("CREATE TABLE IF NOT EXISTS " + qualified(tx, schema, "chat_reads") +
             " (room_id uuid NOT NULL,"
             " user_id uuid NOT NULL,"
             " up_to_seq bigint NOT NULL,"  // every message up to this seq has been read
             " read_at timestamptz NOT NULL,"
             " PRIMARY KEY (room_id, user_id))");
  }

  void apply(pqxx::work& tx, const EventEnvelope& e, ApplyContext&) const override {
    if (e.type == "room.opened") {
      opened(tx, e);
    } else if (e.type == "chat.message_sent") {
      message_sent(tx, e);
    } else if (e.type == "chat.messages_read") {
      messages_read(tx, e);
    }
  }

 private:
  static void opened(pqxx::work& tx, const EventEnvelope& e) {
    EventData d(e);
    // "" when the room was not opened from a booking.
    const std::string session = d.str("session_id").empty() ? "" : d.uuid("session_id").str();
    exec_prepared_sql0(
        tx,
        "INSERT INTO chat_rooms (room_id, client_id, counselor_id, session_id, created_at)"
        " VALUES ($1::uuid, $2::uuid, $3::uuid, nullif($4, '')::uuid, $5::timestamptz)"
        " ON CONFLICT (room_id) DO NOTHING",
        d.uuid("room_id").str(), d.uuid("client_id").str(), d.uuid("counselor_id").str(), session,
        format_rfc3339(e.occurred_at));
  }

  static void message_sent(pqxx::work& tx, const EventEnvelope& e) {
    EventData d(e);
    const std::string content = d.str("content");
    // The read model must never hold a conversation in clear text, whatever an event says.
    if (!is_encrypted_field(content))
      throw BadEventData("chat.message_sent: content is not encrypted");
    const std::string room = d.uuid("room_id").str(), at = format_rfc3339(e.occurred_at);
    exec_prepared_sql0(
        tx,
        "INSERT INTO chat_messages (room_id, message_id, sender_id, content_enc, message_type,"
        " sent_at, seq) VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5, $6::timestamptz, $7)"
        " ON CONFLICT (room_id, message_id) DO NOTHING",
        room, d.uuid("message_id").str(), d.uuid("sender_id").str(), content, d.str("message_type"),
        at, e.sequence);
    exec_prepared_sql0(
        tx,
        "UPDATE chat_rooms SET last_message_at = greatest(last_message_at, $2::timestamptz)"
        " WHERE room_id = $1::uuid",
        room, at);
  }

  static void messages_read(pqxx::work& tx, const EventEnvelope& e) {
    EventData d(e);
    const std::string room = d.uuid("room_id").str();
    const auto seq = exec_prepared_sql(
        tx, "SELECT seq FROM chat_messages WHERE room_id = $1::uuid AND message_id = $2::uuid",
        room, d.uuid("up_to").str());
    if (seq.empty()) throw BadEventData("chat.messages_read: up_to is no message of the room");
    // Markers only move forward (a redelivered older receipt leaves the newer one).
    exec_prepared_sql0(
        tx,
        "INSERT INTO chat_reads (room_id, user_id, up_to_seq, read_at)"
        " VALUES ($1::uuid, $2::uuid, $3, $4::timestamptz)"
        " ON CONFLICT (room_id, user_id) DO UPDATE SET up_to_seq = EXCLUDED.up_to_seq,"
        " read_at = EXCLUDED.read_at WHERE chat_reads.up_to_seq < EXCLUDED.up_to_seq",
        room, d.uuid("user_id").str(), seq[0][0].as<int64_t>(), format_rfc3339(e.occurred_at));
  }
};

}  // namespace

std::unique_ptr<Projection> make_chat_projection() {
  return std::make_unique<ChatProjection>();
}

}  // namespace counsel::projections
