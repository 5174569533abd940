// notifications: what each user is told about (a booking request, a confirmation, a new
// message, a review, ...), one row per (event, recipient).
//
// The row id is derived from the event id and the recipient, so an event applied again (a
// projector restarting after a crash, a rebuild) yields the same row exactly once, and the read
// marks kept outside the read models (notify.notification_reads) stay attached to it.
//
// Rows hold ids, times and kinds only: the clear text (session topics, messages, review
// comments) stays encrypted in the events, and a client fetches it from the resource the
// notification points at, where the usual access rules apply.
//
// Session and review events share the counsellor's stream; a room's events share the room's
// stream (room.opened before its messages), so each notification depends on events of one
// partition only and the projection commutes across partitions.
#include "domain/json.hpp"
#include "projections/event_data.hpp"
#include "projections/prepared_sql.hpp"
#include "projections/read_models.hpp"

namespace counsel::projections {
namespace {

// A projection catching up from far behind (first deployment on an existing log, a long
// outage) must not push its whole backlog to connected users: older ones wait in the list.
constexpr const char* kPushWindow = "1 day";

class NotificationsProjection final : public Projection {
 public:
  std::string_view name() const override { return "notifications"; }
  bool rows_are_partition_local() const override { return true; }
  std::vector<std::string> tables() const override {
    return {"notifications", "notification_room_members"};
  }

  std::vector<std::string> query_only_indexes() const override {
    return {"notifications_recipient_idx"};
  }

  void create_tables(pqxx::work& tx, const std::string& schema) const override {
    const auto notifications = qualified(tx, schema, "notifications");
    tx.exec0("CREATE TABLE IF NOT EXISTS " + notifications +
             " (notification_id uuid PRIMARY KEY,"  // md5(event id || '/' || recipient)
             " recipient_id uuid NOT NULL,"
             " kind text NOT NULL,"
             " subject_id uuid NOT NULL,"         // the session, review or room it is about
             " data jsonb NOT NULL,"              // ids and times only, never clear text
             " created_at timestamptz NOT NULL,"  // when the event occurred
             " event_id uuid NOT NULL,"
             " event_stream text NOT NULL,"
             " event_sequence bigint NOT NULL)");
    // The list is per recipient, newest first, with (created_at, id) as its cursor.
    tx.exec0("CREATE INDEX IF NOT EXISTS notifications_recipient_idx ON " + notifications +
             " (recipient_id, created_at DESC, notification_id DESC)");
    // Who takes part in each room, to know whom a message concerns.
    tx.exec0("CREATE TABLE IF NOT EXISTS " + qualified(tx, schema, "notification_room_members") +
             " (room_id uuid NOT NULL,"
             " member_id uuid NOT NULL,"
             " PRIMARY KEY (room_id, member_id))");
  }

  void apply(pqxx::work& tx, const EventEnvelope& e, ApplyContext& ctx) const override {
    if (e.type == "session.requested") {
      session_requested(ctx, e);
    } else if (e.type == "session.confirmed") {
      to_client(ctx, e, "session_confirmed");
    } else if (e.type == "session.declined") {
      to_client(ctx, e, "session_declined");
    } else if (e.type == "session.completed") {
      to_client(ctx, e, "session_completed");
    } else if (e.type == "session.cancelled") {
      session_cancelled(ctx, e);
    } else if (e.type == "review.submitted") {
      review_submitted(ctx, e);
    } else if (e.type == "room.opened") {
      room_opened(tx, e);
    } else if (e.type == "chat.message_sent") {
      message_sent(tx, ctx, e);
    }
  }

 private:
  // Inserts the notification unless this event already gave `recipient` one, and announces a
  // new one to the api processes' notification relays once the batch has committed (the
  // projector sends what the statement returns). One already delivered in-app before a rebuild
  // recreated it is not announced again. Notifications are only ever inserted here, so they go
  // in bulk: one statement per batch (bulk_rows.hpp).
  static void notify(ApplyContext& ctx, const EventEnvelope& e, const std::string& recipient,
                     const char* kind, const std::string& subject_id, const std::string& data) {
    ctx.bulk.rows(kInsertNotifications, 8, {std::string(kPushWindow)})
        .announcing_on(kNotificationsChannel)
        .add({e.id.value().str(), recipient, std::string(kind), subject_id, data,
              format_rfc3339(e.occurred_at), e.stream, std::to_string(e.sequence)});
  }

  static constexpr const char* kInsertNotifications =
      "WITH inserted AS ("
      " INSERT INTO notifications (notification_id, recipient_id, kind, subject_id, data,"
      "  created_at, event_id, event_stream, event_sequence)"
      " SELECT md5(r.event_id || '/' || r.recipient_id)::uuid, r.recipient_id::uuid, r.kind,"
      "  r.subject_id::uuid, r.data::jsonb, r.created_at::timestamptz, r.event_id::uuid,"
      "  r.event_stream, r.event_sequence::bigint"
      " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
      "  $7::text[], $8::text[]) AS r(event_id, recipient_id, kind, subject_id, data, created_at,"
      "  event_stream, event_sequence)"
      " ON CONFLICT (notification_id) DO NOTHING"
      " RETURNING notification_id, recipient_id, created_at)"
      " SELECT i.recipient_id::text || ':' || i.notification_id::text"
      " FROM inserted i"
      " WHERE i.created_at > now() - $9::interval"
      " AND NOT EXISTS (SELECT 1 FROM notify.outbox o WHERE o.id = i.notification_id)";

  // The ids every session notification carries.
  static void write_session_ids(json::Writer& w, const EventData& d) {
    for (const char* key : {"session_id", "counselor_id", "client_id"}) {
      json::key(w, key);
      json::write_string(w, d.uuid(key).str());
    }
  }

  static std::string text(const rapidjson::StringBuffer& sb) {
    return {sb.GetString(), sb.GetSize()};
  }

  static void session_requested(ApplyContext& ctx, const EventEnvelope& e) {
    EventData d(e);
    rapidjson::StringBuffer sb;
    json::Writer w(sb);
    w.StartObject();
    write_session_ids(w, d);
    json::key(w, "start");
    json::write_string(w, d.timestamp("start"));
    json::key(w, "end");
    json::write_string(w, d.timestamp("end"));
    json::key(w, "duration_minutes");
    w.Int64(d.integer("duration_minutes"));
    w.EndObject();
    notify(ctx, e, d.uuid("counselor_id").str(), "new_booking_request", d.uuid("session_id").str(),
           text(sb));
  }

  static std::string session_ids_json(const EventData& d) {
    rapidjson::StringBuffer sb;
    json::Writer w(sb);
    w.StartObject();
    write_session_ids(w, d);
    w.EndObject();
    return text(sb);
  }

  static void to_client(ApplyContext& ctx, const EventEnvelope& e, const char* kind) {
    EventData d(e);
    notify(ctx, e, d.uuid("client_id").str(), kind, d.uuid("session_id").str(),
           session_ids_json(d));
  }

  // The participant who did not cancel is told; both are when someone else cancelled.
  static void session_cancelled(ApplyContext& ctx, const EventEnvelope& e) {
    EventData d(e);
    const std::string by = d.uuid("cancelled_by").str();
    rapidjson::StringBuffer sb;
    json::Writer w(sb);
    w.StartObject();
    write_session_ids(w, d);
    json::key(w, "cancelled_by");
    json::write_string(w, by);
    json::key(w, "late");
    w.Bool(d.boolean("late"));
    w.EndObject();
    const std::string session = d.uuid("session_id").str();
    for (const char* participant : {"counselor_id", "client_id"}) {
      const std::string recipient = d.uuid(participant).str();
      if (recipient != by) notify(ctx, e, recipient, "session_cancelled", session, text(sb));
    }
  }

  static void review_submitted(ApplyContext& ctx, const EventEnvelope& e) {
    EventData d(e);
    rapidjson::StringBuffer sb;
    json::Writer w(sb);
    w.StartObject();
    for (const char* key : {"review_id", "session_id", "counselor_id", "client_id"}) {
      json::key(w, key);
      json::write_string(w, d.uuid(key).str());
    }
    json::key(w, "rating");
    w.Int64(d.integer("rating"));
    w.EndObject();
    notify(ctx, e, d.uuid("counselor_id").str(), "new_review", d.uuid("review_id").str(), text(sb));
  }

  static void room_opened(pqxx::work& tx, const EventEnvelope& e) {
    EventData d(e);
    exec_prepared_sql0(tx,
                       "INSERT INTO notification_room_members (room_id, member_id)"
                       " VALUES ($1::uuid, $2::uuid), ($1::uuid, $3::uuid) ON CONFLICT DO NOTHING",
                       d.uuid("room_id").str(), d.uuid("client_id").str(),
                       d.uuid("counselor_id").str());
  }

  static void message_sent(pqxx::work& tx, ApplyContext& ctx, const EventEnvelope& e) {
    EventData d(e);
    const std::string room = d.uuid("room_id").str();
    const std::string sender = d.uuid("sender_id").str();
    const auto members = exec_prepared_sql(
        tx, "SELECT member_id::text FROM notification_room_members WHERE room_id = $1::uuid", room);
    if (members.empty()) throw BadEventData("chat.message_sent: no room.opened for room " + room);
    rapidjson::StringBuffer sb;
    json::Writer w(sb);
    w.StartObject();
    for (const char* key : {"room_id", "message_id", "sender_id"}) {
      json::key(w, key);
      json::write_string(w, d.uuid(key).str());
    }
    json::key(w, "message_type");
    json::write_string(w, d.str("message_type"));
    w.EndObject();
    for (const auto& row : members) {
      const std::string member = row[0].c_str();
      if (member != sender) notify(ctx, e, member, "new_message", room, text(sb));
    }
  }
};

}  // namespace

std::unique_ptr<Projection> make_notifications_projection() {
  return std::make_unique<NotificationsProjection>();
}

}  // namespace counsel::projections
