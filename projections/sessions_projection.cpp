// sessions: every booking and where it stands. All session events of a counsellor share the
// counselor stream (one partition), so they arrive in order.
#include "projections/event_data.hpp"
#include "projections/prepared_sql.hpp"
#include "projections/read_models.hpp"
#include "projections/read_queries.hpp"

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

  // A requested session's row goes in with the batch's other new sessions, and every change of
  // a session's state with the batch's other changes, one statement each per batch
  // (bulk_rows.hpp): changes are written after the inserts, so a change finds its session even
  // when both are in one batch. Erasure is a statement of its own; the rows still pending are
  // written first.
  void apply(pqxx::work& tx, const EventEnvelope& e, ApplyContext& ctx) const override {
    if (e.type == "session.requested") {
      requested(e, ctx);
    } else if (e.type == "session.confirmed") {
      changed(e, ctx, "confirmed");
    } else if (e.type == "session.completed") {
      changed(e, ctx, "completed");
    } else if (e.type == "session.no_show") {
      changed(e, ctx, "no_show");
    } else if (e.type == "session.declined") {
      changed(e, ctx, "declined");
    } else if (e.type == "session.cancelled") {
      changed(e, ctx, "cancelled");
    } else if (e.type == "account.erased") {
      insertions(ctx).write(tx);
      changes(ctx).write(tx);
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
    insertions(ctx).add({d.uuid("session_id").str(), d.uuid("counselor_id").str(), client.str(),
                         d.timestamp("start"), d.timestamp("end"),
                         std::to_string(d.integer("duration_minutes")),
                         ctx.decryptor.decrypt(client, d.str("topic")), d.str("mode"),
                         format_rfc3339(e.occurred_at)});
  }

  // The batch's state changes, in log order: (session_id, status, at, reason, cancelled_by,
  // late). Applied as the events one after the other would be: a session's status and
  // updated_at are its last change's, the decline reason its last decline's, and the
  // cancellation's fields its last cancellation's (others keep theirs). One session per row of
  // `latest`, so that UPDATE ... FROM meets each target row once; the result counts the
  // sessions not found.
  static constexpr const char* kChangeSessions =
      "WITH r AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
      " $5::text[], $6::text[]) WITH ORDINALITY AS r(session_id, status, at, reason,"
      " cancelled_by, late, n)),"
      " latest AS (SELECT DISTINCT ON (session_id) session_id, status, at FROM r"
      " ORDER BY session_id, n DESC),"
      " declines AS (SELECT DISTINCT ON (session_id) session_id, reason FROM r"
      " WHERE status = 'declined' ORDER BY session_id, n DESC),"
      " cancellations AS (SELECT DISTINCT ON (session_id) session_id, reason, cancelled_by, late"
      " FROM r WHERE status = 'cancelled' ORDER BY session_id, n DESC),"
      " changed AS (UPDATE sessions s SET status = l.status, updated_at = l.at::timestamptz,"
      " decline_reason = CASE WHEN d.session_id IS NULL THEN s.decline_reason ELSE d.reason END,"
      " cancelled_by = CASE WHEN c.session_id IS NULL THEN s.cancelled_by"
      " ELSE c.cancelled_by::uuid END,"
      " cancellation_reason = CASE WHEN c.session_id IS NULL THEN s.cancellation_reason"
      " ELSE c.reason END,"
      " late_cancellation = CASE WHEN c.session_id IS NULL THEN s.late_cancellation"
      " ELSE c.late::boolean END"
      " FROM latest l LEFT JOIN declines d ON d.session_id = l.session_id"
      " LEFT JOIN cancellations c ON c.session_id = l.session_id"
      " WHERE s.session_id = l.session_id::uuid RETURNING 1)"
      " SELECT (SELECT count(*) FROM latest) - (SELECT count(*) FROM changed)";

  // The same, returning each inserted row as get_session reads it, when the runner hands them
  // to its process (an api answers its client's booking with it, without reading it again).
  static const std::string& insert_sessions_returning() {
    static const std::string sql = [] {
      const std::string_view prefix = "INSERT INTO sessions ";
      std::string text(kInsertSessions);
      if (!text.starts_with(prefix)) throw std::logic_error("kInsertSessions changed its start");
      return text.replace(0, prefix.size(), "INSERT INTO sessions AS s ") + " RETURNING " +
             session_columns();
    }();
    return sql;
  }

  static BulkRows& insertions(ApplyContext& ctx) {
    if (ctx.return_rows)
      return ctx.bulk.rows(insert_sessions_returning(), 9).returning_rows(kInsertedSessionsTag);
    return ctx.bulk.rows(kInsertSessions, 9);
  }
  static BulkRows& changes(ApplyContext& ctx) {
    return ctx.bulk.rows(kChangeSessions, 6)
        .written_last()
        .failing_on_misses("a session change for an unknown session");
  }

  // A decline's or cancellation's reason: sealed with the client's key since v2 (NULL once the
  // client is erased), clear text in v1 events, which the decryptor passes through.
  static std::optional<std::string> reason(const EventData& d, ApplyContext& ctx) {
    auto value = d.optional_str("reason");
    if (!value) return std::nullopt;
    return ctx.decryptor.decrypt(d.uuid("client_id"), *value);
  }

  static void changed(const EventEnvelope& e, ApplyContext& ctx, const std::string& status) {
    EventData d(e);
    const auto session = d.uuid("session_id").str();
    const auto at = format_rfc3339(e.occurred_at);
    if (status == "declined") {
      changes(ctx).add({session, status, at, reason(d, ctx), std::nullopt, std::nullopt});
    } else if (status == "cancelled") {
      changes(ctx).add({session, status, at, reason(d, ctx), d.uuid("cancelled_by").str(),
                        d.boolean("late") ? "true" : "false"});
    } else {
      changes(ctx).add({session, status, at, std::nullopt, std::nullopt, std::nullopt});
    }
  }
};

}  // namespace

std::unique_ptr<Projection> make_sessions_projection() {
  return std::make_unique<SessionsProjection>();
}

}  // namespace counsel::projections
