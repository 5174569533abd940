// patients: the patient records (seed 003) with their personal fields decrypted with the owning
// client's key, for listing, search and reads. Every event of a record is on its own patient
// stream (one partition), so they arrive in order. The password hash is not kept here: nothing
// reads it back. Session entries are kept as the api was given them: since v2 their details
// arrive sealed with the owner's key (patient.hpp, "Session entries") and are decrypted here;
// once the owner is erased an entry keeps only its session_id, marked "erased": true.
#include "domain/aggregates/patient.hpp"
#include "domain/json.hpp"
#include "projections/event_data.hpp"
#include "projections/prepared_sql.hpp"
#include "projections/read_models.hpp"

namespace counsel::projections {
namespace {

// Event field -> column. The columns are named after the fields.
bool projected_text_field(const patient::TextField& f) {
  return std::string_view(f.name) != "password_hash";
}

// What stands for a session entry's details once they cannot be read (the owner was erased).
constexpr std::string_view kErasedMark = R"({"erased":true})";

// What account.erased leaves of each session entry in the read model, as SQL over the jsonb
// array `sessions`: an entry that is only its id stays, any other keeps its session_id and is
// marked erased (what an erased entry's replay gives: see session_entry()); an entry without
// an id (v1 allowed them) is only the mark.
const char* const kErasedSessions =
    "coalesce((SELECT jsonb_agg(CASE WHEN jsonb_typeof(s) = 'object' AND s ? 'session_id' THEN"
    " CASE WHEN s - 'session_id' = '{}'::jsonb THEN s"
    " ELSE jsonb_build_object('session_id', s -> 'session_id', 'erased', true) END"
    " ELSE jsonb_build_object('erased', true) END ORDER BY n)"
    " FROM jsonb_array_elements(sessions) WITH ORDINALITY AS e(s, n)), '[]'::jsonb)";

class PatientsProjection final : public Projection {
 public:
  std::string_view name() const override { return "patients"; }
  bool rows_are_partition_local() const override { return true; }
  std::vector<std::string> tables() const override { return {"patients"}; }
  bool handles(std::string_view type) const override {
    return type.starts_with("patient.") || type == "account.erased";
  }

  void create_tables(pqxx::work& tx, const std::string& schema) const override {
    const auto patients = qualified(tx, schema, "patients");
    // Personal columns are NULL when empty or once the owner is erased (crypto-shredded).
    tx.exec0("CREATE TABLE IF NOT EXISTS " + patients +
             " (patient_id text PRIMARY KEY,"
             " owner_id uuid NOT NULL,"
             " first_name text,"
             " last_name text,"
             " phone_no text,"
             " email text,"
             " ssn text,"
             " address text,"
             " allergies_and_medication text,"
             " date_of_birth text,"
             " added_note text,"
             " about_note text,"
             " sex text NOT NULL,"
             " profile_picture text,"
             " tags jsonb NOT NULL DEFAULT '[]',"
             " sessions jsonb NOT NULL DEFAULT '[]',"
             " wallet_balance_cents bigint NOT NULL DEFAULT 0,"
             " created_at timestamptz NOT NULL,"
             " updated_at timestamptz NOT NULL)");
    tx.exec0("CREATE INDEX IF NOT EXISTS patients_owner_idx ON " + patients + " (owner_id)");
  }

  void apply(pqxx::work& tx, const EventEnvelope& e, ApplyContext& ctx) const override {
    if (e.type == "account.erased") {
      // The owner's key is shredded with this event: the personal fields and the sessions'
      // details go here too, the record's existence (and a counsellor's link to it, and which
      // sessions it names) stays.
      EventData d(e);
      exec_prepared_sql0(
          tx,
          "UPDATE patients SET first_name = NULL, last_name = NULL, phone_no = NULL, email = NULL,"
          " ssn = NULL, address = NULL, allergies_and_medication = NULL, date_of_birth = NULL,"
          " added_note = NULL, about_note = NULL, profile_picture = NULL,"
          " sessions = " +
              std::string(kErasedSessions) + " WHERE owner_id = $1::uuid",
          d.uuid("user_id").str());
      return;
    }
    if (!e.type.starts_with("patient.")) return;
    EventData d(e);
    const std::string id = d.str("patient_id");
    const Uuid owner = d.uuid("owner_id");
    const auto at = format_rfc3339(e.occurred_at);
    if (e.type == "patient.created") {
      created(tx, e, d, id, owner, at, ctx);
    } else if (e.type == "patient.updated") {
      updated(tx, e, d, id, owner, at, ctx);
    } else if (e.type == "patient.deleted") {
      exec_prepared_sql0(tx, "DELETE FROM patients WHERE patient_id = $1", id);
    } else if (e.type == "patient.tag_added") {
      one_row(exec_prepared_sql(tx,
                                "UPDATE patients SET tags = CASE WHEN tags ? $2 THEN tags"
                                " ELSE tags || to_jsonb($2::text) END, updated_at = $3::timestamptz"
                                " WHERE patient_id = $1",
                                id, d.str("tag"), at),
              e);
    } else if (e.type == "patient.tag_removed") {
      one_row(exec_prepared_sql(tx,
                                "UPDATE patients SET tags = tags - $2::text,"
                                " updated_at = $3::timestamptz WHERE patient_id = $1",
                                id, d.str("tag"), at),
              e);
    } else if (e.type == "patient.session_added") {
      const auto* session = json::get_object(d.root(), "session");
      if (!session) throw BadEventData("patient.session_added: session is not an object");
      one_row(exec_prepared_sql(tx,
                                "UPDATE patients SET sessions = CASE"
                                " WHEN sessions @> jsonb_build_array($2::jsonb) THEN sessions"
                                " ELSE sessions || jsonb_build_array($2::jsonb) END,"
                                " updated_at = $3::timestamptz WHERE patient_id = $1",
                                id, session_entry(e, *session, owner, ctx), at),
              e);
    } else if (e.type == "patient.wallet_updated") {
      one_row(exec_prepared_sql(tx,
                                "UPDATE patients SET wallet_balance_cents = $2,"
                                " updated_at = $3::timestamptz WHERE patient_id = $1",
                                id, d.integer("balance_cents"), at),
              e);
    }
  }

 private:
  static void one_row(const pqxx::result& r, const EventEnvelope& e) {
    if (r.affected_rows() != 1) throw BadEventData(e.type + ": unknown patient");
  }

  static std::optional<std::string> column_value(const patient::TextField& f,
                                                 const std::string& value, const Uuid& owner,
                                                 ApplyContext& ctx) {
    if (value.empty()) return std::nullopt;
    if (!f.sensitive) return value;
    return ctx.decryptor.decrypt(owner, value);
  }

  static std::string json_member(const EventData& d, const char* key) {
    const auto* v = json::get_array(d.root(), key);
    if (!v) throw BadEventData(std::string("patient event: ") + key + " is not an array");
    return json::canonical(*v);
  }

  // One session entry as the read model keeps it: the clear object the api was given. v1 events
  // carry it so; from v2 on its details are sealed with the owner's key, and an entry whose
  // details do not decrypt (the owner was erased) keeps only its id, marked erased.
  static std::string session_entry(const EventEnvelope& e, const json::Value& entry,
                                   const Uuid& owner, ApplyContext& ctx) {
    if (e.version < 2) return json::canonical(entry);
    auto id = json::get_string(entry, "session_id");
    if (!id) throw BadEventData(e.type + ": a session entry has no session_id");
    auto sealed = json::get_string(entry, "details");
    if (!sealed) return patient::sealed_session_entry(*id, "");
    auto others = ctx.decryptor.decrypt(owner, *sealed);
    auto joined = patient::joined_session_entry(*id, others ? *others : kErasedMark);
    if (!joined) throw BadEventData(e.type + ": a session entry's details are not an object");
    return *joined;
  }

  // The event's sessions array as the read model keeps it (session_entry() for each).
  static std::string sessions_member(const EventEnvelope& e, const EventData& d, const Uuid& owner,
                                     ApplyContext& ctx) {
    if (e.version < 2) return json_member(d, "sessions");
    const auto* v = json::get_array(d.root(), "sessions");
    if (!v) throw BadEventData(e.type + ": sessions is not an array");
    std::string out = "[";
    for (const auto& entry : v->GetArray()) {
      if (!entry.IsObject()) throw BadEventData(e.type + ": a session entry is not an object");
      if (out.size() > 1) out += ',';
      out += session_entry(e, entry, owner, ctx);
    }
    return out + "]";
  }

  static void created(pqxx::work& tx, const EventEnvelope& e, const EventData& d,
                      const std::string& id, const Uuid& owner, const std::string& at,
                      ApplyContext& ctx) {
    std::vector<std::optional<std::string>> v;
    for (const auto& f : patient::text_fields()) {
      if (!projected_text_field(f)) continue;
      v.push_back(column_value(f, d.str(f.name), owner, ctx));
    }
    // v follows text_fields() order: first_name .. about_note, sex, profile_picture.
    exec_prepared_sql0(
        tx,
        "INSERT INTO patients (patient_id, owner_id, first_name, last_name, phone_no, email, ssn,"
        " address, allergies_and_medication, date_of_birth, added_note, about_note, sex,"
        " profile_picture, tags, sessions, wallet_balance_cents, created_at, updated_at)"
        " VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb,"
        " $16::jsonb, $17, $18::timestamptz, $18::timestamptz)"
        " ON CONFLICT (patient_id) DO NOTHING",
        id, owner.str(), v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9],
        v[10].value_or(""), v[11], json_member(d, "tags"), sessions_member(e, d, owner, ctx),
        d.integer("wallet_balance_cents"), at);
  }

  static void updated(pqxx::work& tx, const EventEnvelope& e, const EventData& d,
                      const std::string& id, const Uuid& owner, const std::string& at,
                      ApplyContext& ctx) {
    one_row(
        exec_prepared_sql(
            tx, "UPDATE patients SET updated_at = $2::timestamptz WHERE patient_id = $1", id, at),
        e);
    // One statement per changed column keeps the SQL static (libpqxx 6 has no dynamic params);
    // column names come from the fixed field list, never from the event.
    for (const auto& f : patient::text_fields()) {
      if (!projected_text_field(f)) continue;
      auto value = d.optional_str(f.name);
      if (!value) continue;
      exec_prepared_sql0(
          tx, "UPDATE patients SET " + tx.quote_name(f.name) + " = $2 WHERE patient_id = $1", id,
          column_value(f, *value, owner, ctx));
    }
    if (json::get_array(d.root(), "tags"))
      exec_prepared_sql0(tx, "UPDATE patients SET tags = $2::jsonb WHERE patient_id = $1", id,
                         json_member(d, "tags"));
    if (json::get_array(d.root(), "sessions"))
      exec_prepared_sql0(tx, "UPDATE patients SET sessions = $2::jsonb WHERE patient_id = $1", id,
                         sessions_member(e, d, owner, ctx));
    if (auto cents = json::get_int(d.root(), "wallet_balance_cents"))
      exec_prepared_sql0(tx, "UPDATE patients SET wallet_balance_cents = $2 WHERE patient_id = $1",
                         id, *cents);
  }
};

}  // namespace

std::unique_ptr<Projection> make_patients_projection() {
  return std::make_unique<PatientsProjection>();
}

}  // namespace counsel::projections
