// audit_events: one row per event of the log, for the compliance officers' search (GET
// /api/v1/audit). It keeps what an audit question filters on (type, stream, actor, the users an
// event concerns, time, position) and never the data itself: the personal fields stay sealed in
// the log, where `counsel audit replay` reads them with the same filters.
#include <set>

#include "domain/json.hpp"
#include "projections/event_data.hpp"
#include "projections/prepared_sql.hpp"
#include "projections/read_models.hpp"

namespace counsel::projections {
namespace {

// Data members that name a user the event is about.
const std::set<std::string, std::less<>> kSubjectMembers{
    "user_id", "client_id", "counselor_id", "owner_id", "sender_id", "cancelled_by", "subject_id"};

std::vector<std::string> subjects_of(const EventEnvelope& e) {
  std::set<std::string> found;
  for (std::string_view prefix : {"account-", "counselor-", "access-"}) {
    if (e.stream.starts_with(prefix)) {
      auto id = Uuid::parse(std::string_view(e.stream).substr(prefix.size()));
      if (id) found.insert(id->str());
    }
  }
  auto data = json::parse(e.data_json, nullptr, 64);
  if (data && data->IsObject()) {
    for (const auto& m : data->GetObject()) {
      if (!m.value.IsString() || !kSubjectMembers.contains(m.name.GetString())) continue;
      if (auto id = Uuid::parse(m.value.GetString())) found.insert(id->str());
    }
  }
  return {found.begin(), found.end()};
}

std::string uuid_array_literal(const std::vector<std::string>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += ids[i];  // canonical UUID text: no quoting needed
  }
  return out + "}";
}

class AuditProjection final : public Projection {
 public:
  std::string_view name() const override { return "audit"; }
  bool rows_are_partition_local() const override { return true; }
  std::vector<std::string> tables() const override { return {"audit_events", "access_records"}; }

  std::vector<std::string> query_only_indexes() const override {
    return {"audit_events_time_idx", "audit_events_actor_idx", "audit_events_subjects_idx",
            "audit_events_type_idx", "access_records_subject_idx"};
  }

  void create_tables(pqxx::work& tx, const std::string& schema) const override {
    const auto table = qualified(tx, schema, "audit_events");
    tx.exec0("CREATE TABLE IF NOT EXISTS " + table +
             " (event_id uuid PRIMARY KEY,"
             " occurred_at timestamptz NOT NULL,"
             " type text NOT NULL,"
             " stream text NOT NULL,"
             " sequence bigint NOT NULL,"
             " partition integer NOT NULL,"
             " actor_id uuid NOT NULL,"
             " actor_role text NOT NULL,"
             " subjects uuid[] NOT NULL DEFAULT '{}')");
    tx.exec0("CREATE INDEX IF NOT EXISTS audit_events_time_idx ON " + table +
             " (occurred_at, event_id)");
    tx.exec0("CREATE INDEX IF NOT EXISTS audit_events_actor_idx ON " + table +
             " (actor_id, occurred_at)");
    // Without GIN's pending list (fastupdate): with it, every projector batch adds its events'
    // subjects to the list, and the batch that finds it past gin_pending_list_limit (4 MB)
    // merges it all into the index, stalling every request waiting on the read models for
    // hundreds of milliseconds at a million events. Each insert now pays its own small share.
    // The ALTER moves read models built before (it does not rebuild the index) and merges what
    // their list held.
    tx.exec0("CREATE INDEX IF NOT EXISTS audit_events_subjects_idx ON " + table +
             " USING gin (subjects) WITH (fastupdate = off)");
    const auto subjects_idx = qualified(tx, schema, "audit_events_subjects_idx");
    const bool already_off = !tx.exec_params(
                                    "SELECT 1 FROM pg_class WHERE oid = to_regclass($1)"
                                    " AND reloptions @> '{fastupdate=off}'",
                                    subjects_idx)
                                  .empty();
    if (!already_off) {
      tx.exec0("ALTER INDEX " + subjects_idx + " SET (fastupdate = off)");
      // What the list holds stays there (every search scans it) until merged: now, once.
      tx.exec_params("SELECT gin_clean_pending_list(to_regclass($1))", subjects_idx);
    }
    tx.exec0("CREATE INDEX IF NOT EXISTS audit_events_type_idx ON " + table +
             " (type, occurred_at)");
    // Who read whose sensitive data (access.recorded): what a data subject's export lists.
    const auto access = qualified(tx, schema, "access_records");
    tx.exec0("CREATE TABLE IF NOT EXISTS " + access +
             " (event_id uuid PRIMARY KEY,"
             " occurred_at timestamptz NOT NULL,"
             " subject_id uuid NOT NULL,"
             " reader_id uuid NOT NULL,"
             " reader_role text NOT NULL,"
             " what text NOT NULL,"
             " resource_id text NOT NULL,"
             " why text NOT NULL)");
    tx.exec0("CREATE INDEX IF NOT EXISTS access_records_subject_idx ON " + access +
             " (subject_id, occurred_at)");
  }

  // Every event adds a row and none is changed afterwards: the rows go in bulk, one
  // statement per batch (bulk_rows.hpp).
  void apply(pqxx::work&, const EventEnvelope& e, ApplyContext& ctx) const override {
    ctx.bulk.rows(kInsertAuditEvents, 9)
        .add({e.id.value().str(), format_rfc3339(e.occurred_at), e.type, e.stream,
              std::to_string(e.sequence), std::to_string(e.partition), e.actor.id.value().str(),
              std::string(to_string(e.actor.role)), uuid_array_literal(subjects_of(e))});
    if (e.type == "access.recorded") {
      EventData d(e);
      ctx.bulk.rows(kInsertAccessRecords, 8)
          .add({e.id.value().str(), format_rfc3339(e.occurred_at), d.uuid("subject_id").str(),
                e.actor.id.value().str(), std::string(to_string(e.actor.role)), d.str("what"),
                d.str("resource_id"), d.str("why")});
    }
  }

 private:
  static constexpr const char* kInsertAuditEvents =
      "INSERT INTO audit_events (event_id, occurred_at, type, stream, sequence, partition,"
      " actor_id, actor_role, subjects)"
      " SELECT r.event_id::uuid, r.occurred_at::timestamptz, r.type, r.stream, r.sequence::bigint,"
      " r.partition::integer, r.actor_id::uuid, r.actor_role, r.subjects::uuid[]"
      " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
      " $7::text[], $8::text[], $9::text[]) AS r(event_id, occurred_at, type, stream, sequence,"
      " partition, actor_id, actor_role, subjects)"
      " ON CONFLICT (event_id) DO NOTHING";
  static constexpr const char* kInsertAccessRecords =
      "INSERT INTO access_records (event_id, occurred_at, subject_id, reader_id, reader_role,"
      " what, resource_id, why)"
      " SELECT r.event_id::uuid, r.occurred_at::timestamptz, r.subject_id::uuid,"
      " r.reader_id::uuid, r.reader_role, r.what, r.resource_id, r.why"
      " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
      " $7::text[], $8::text[]) AS r(event_id, occurred_at, subject_id, reader_id, reader_role,"
      " what, resource_id, why)"
      " ON CONFLICT (event_id) DO NOTHING";
};

}  // namespace

std::unique_ptr<Projection> make_audit_projection() {
  return std::make_unique<AuditProjection>();
}

}  // namespace counsel::projections
