// sessions: every booking and where it stands. All session events of a counsellor share the
// counselor stream (one partition), so they arrive in order.
#include "projections/event_data.hpp"
#include "projections/prepared_sql.hpp"
#include "projections/read_models.hpp"

namespace counsel::projections {
namespace {

class SessionsProjection final : public Projection {
 public:
  std::string_view name() const override { return "sessions"; }
  bool rows_are_partition_local() const override { return true; }
  std::vector<std::string> tables() const override { return {"sessions"}; }
  bool handles(std::string_view type) const override {
    return type.starts_with("session.") || type == "account.erased";
  }

  // Not sessions_client_start_idx: account.erased finds the client's sessions by it.
  std::vector<std::string> query_only_indexes() const override {
    return {"sessions_counselor_start_idx", "sessions_status_idx"};
  }

  void create_tables(pqxx::work& tx, const std::string& schema) const override {
    const auto sessions = qualified(tx, schema, "sessions");
    tx.exec0("CREATE TABLE IF NOT EXISTS " + sessions +
             " (session_id uuid PRIMARY KEY,"
             " counselor_id uuid NOT NULL,"
             " client_id uuid NOT NULL,"
             " start_at timestamptz NOT NULL,"
             " end_at timestamptz NOT NULL,"
             " duration_minutes integer NOT NULL,"
             " topic text,"  // NULL once the client is erased
             " mode text NOT NULL,"
             " status text NOT NULL,"
             " late_cancellation boolean NOT NULL DEFAULT false,"
             " cancelled_by uuid,"
             " cancellation_reason text,"  // NULL once the client is erased
             " decline_reason text,"       // likewise
             " created_at timestamptz NOT NULL,"
             " updated_at timestamptz NOT NULL)");
    tx.exec0("CREATE INDEX IF NOT EXISTS sessions_counselor_start_idx ON " + sessions +
             " (counselor_id, start_at)");
    tx.exec0("CREATE INDEX IF NOT EXISTS sessions_client_start_idx ON " + sessions +
             " (client_id, start_at)");
    tx.exec0("CREATE INDEX IF NOT EXISTS sessions_status_idx ON " + sessions + " (status)");
  }

  // A requested session's row goes in with the batch's other new sessions, one statement per
  // batch (bulk_rows.hpp); every other event changes a row, so the rows still pending are
  // written first, and the change finds its session even when both are in one batch.
  void apply(pqxx::work& tx, const EventEnvelope& e, ApplyContext& ctx) const override {
    if (e.type == "session.requested") {
      requested(e, ctx);
      return;
    }
    if (!e.type.starts_with("session.") && e.type != "account.erased") return;
    ctx.bulk.rows(kInsertSessions, 9).write(tx);
    if (e.type == "session.confirmed") {
      move_to(tx, e, "confirmed");
    } else if (e.type == "session.completed") {
      move_to(tx, e, "completed");
    } else if (e.type == "session.no_show") {
      move_to(tx, e, "no_show");
    } else if (e.type == "session.declined") {
      declined(tx, e, ctx);
    } else if (e.type == "session.cancelled") {
      cancelled(tx, e, ctx);
    } else if (e.type == "account.erased") {
      // The client's words about a session go; that it took place (for the counsellor's
      // records and calendar) stays.
      EventData d(e);
      exec_prepared_sql0(
          tx,
          "UPDATE sessions SET topic = NULL, cancellation_reason = NULL, decline_reason = NULL"
          " WHERE client_id = $1::uuid",
          d.uuid("user_id").str());
    }
  }

 private:
  static constexpr const char* kInsertSessions =
      "INSERT INTO sessions (session_id, counselor_id, client_id, start_at, end_at,"
      " duration_minutes, topic, mode, status, created_at, updated_at)"
      " SELECT r.session_id::uuid, r.counselor_id::uuid, r.client_id::uuid,"
      " r.start_at::timestamptz, r.end_at::timestamptz, r.duration_minutes::integer, r.topic,"
      " r.mode, 'requested', r.at::timestamptz, r.at::timestamptz"
      " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
      " $7::text[], $8::text[], $9::text[]) AS r(session_id, counselor_id, client_id, start_at,"
      " end_at, duration_minutes, topic, mode, at)";

  static void requested(const EventEnvelope& e, ApplyContext& ctx) {
    EventData d(e);
    const Uuid client = d.uuid("client_id");
    ctx.bulk.rows(kInsertSessions, 9)
        .add({d.uuid("session_id").str(), d.uuid("counselor_id").str(), client.str(),
              d.timestamp("start"), d.timestamp("end"),
              std::to_string(d.integer("duration_minutes")),
              ctx.decryptor.decrypt(client, d.str("topic")), d.str("mode"),
              format_rfc3339(e.occurred_at)});
  }

  static void require_one_row(const pqxx::result& r, const EventEnvelope& e) {
    if (r.affected_rows() != 1) throw BadEventData(e.type + ": unknown session");
  }

  static void move_to(pqxx::work& tx, const EventEnvelope& e, const char* status) {
    EventData d(e);
    auto r = exec_prepared_sql(
        tx, "UPDATE sessions SET status = $2, updated_at = $3::timestamptz WHERE session_id = $1",
        d.uuid("session_id").str(), std::string(status), format_rfc3339(e.occurred_at));
    require_one_row(r, e);
  }

  // A decline's or cancellation's reason: sealed with the client's key since v2 (NULL once the
  // client is erased), clear text in v1 events, which the decryptor passes through.
  static std::optional<std::string> reason(const EventData& d, ApplyContext& ctx) {
    auto value = d.optional_str("reason");
    if (!value) return std::nullopt;
    return ctx.decryptor.decrypt(d.uuid("client_id"), *value);
  }

  static void declined(pqxx::work& tx, const EventEnvelope& e, ApplyContext& ctx) {
    EventData d(e);
    auto r = exec_prepared_sql(tx,
                               "UPDATE sessions SET status = 'declined', decline_reason = $2,"
                               " updated_at = $3::timestamptz WHERE session_id = $1",
                               d.uuid("session_id").str(), reason(d, ctx),
                               format_rfc3339(e.occurred_at));
    require_one_row(r, e);
  }

  static void cancelled(pqxx::work& tx, const EventEnvelope& e, ApplyContext& ctx) {
    EventData d(e);
    auto r = exec_prepared_sql(
        tx,
        "UPDATE sessions SET status = 'cancelled', cancelled_by = $2::uuid,"
        " cancellation_reason = $3, late_cancellation = $4, updated_at = $5::timestamptz"
        " WHERE session_id = $1",
        d.uuid("session_id").str(), d.uuid("cancelled_by").str(), reason(d, ctx), d.boolean("late"),
        format_rfc3339(e.occurred_at));
    require_one_row(r, e);
  }
};

}  // namespace

std::unique_ptr<Projection> make_sessions_projection() {
  return std::make_unique<SessionsProjection>();
}

}  // namespace counsel::projections
