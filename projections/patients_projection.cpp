// patients: the patient records (seed 003) with their personal fields decrypted with the owning
// client's key, for listing, search and reads. Every event of a record is on its own patient
// stream (one partition), so they arrive in order. The password hash is not kept here: nothing
// reads it back.
#include "domain/aggregates/patient.hpp"
#include "domain/json.hpp"
#include "projections/event_data.hpp"
#include "projections/read_models.hpp"

namespace counsel::projections {
namespace {

// Event field -> column. The columns are named after the fields.
bool projected_text_field(const patient::TextField& f) {
  return std::string_view(f.name) != "password_hash";
}

class PatientsProjection final : public Projection {
 public:
  std::string_view name() const override { return "patients"; }
  std::vector<std::string> tables() const override { return {"patients"}; }

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
    if (!e.type.starts_with("patient.")) return;
    EventData d(e);
    const std::string id = d.str("patient_id");
    const Uuid owner = d.uuid("owner_id");
    const auto at = format_rfc3339(e.occurred_at);
    if (e.type == "patient.created") {
      created(tx, d, id, owner, at, ctx);
    } else if (e.type == "patient.updated") {
      updated(tx, e, d, id, owner, at, ctx);
    } else if (e.type == "patient.deleted") {
      tx.exec_params0("DELETE FROM patients WHERE patient_id = $1", id);
    } else if (e.type == "patient.tag_added") {
      one_row(tx.exec_params("UPDATE patients SET tags = CASE WHEN tags ? $2 THEN tags"
                             " ELSE tags || to_jsonb($2::text) END, updated_at = $3::timestamptz"
                             " WHERE patient_id = $1",
                             id, d.str("tag"), at),
              e);
    } else if (e.type == "patient.tag_removed") {
      one_row(tx.exec_params("UPDATE patients SET tags = tags - $2::text,"
                             " updated_at = $3::timestamptz WHERE patient_id = $1",
                             id, d.str("tag"), at),
              e);
    } else if (e.type == "patient.session_added") {
      const auto* session = json::get_object(d.root(), "session");
      if (!session) throw BadEventData("patient.session_added: session is not an object");
      one_row(tx.exec_params("UPDATE patients SET sessions = CASE"
                             " WHEN sessions @> jsonb_build_array($2::jsonb) THEN sessions"
                             " ELSE sessions || jsonb_build_array($2::jsonb) END,"
                             " updated_at = $3::timestamptz WHERE patient_id = $1",
                             id, json::canonical(*session), at),
              e);
    } else if (e.type == "patient.wallet_updated") {
      one_row(tx.exec_params("UPDATE patients SET wallet_balance_cents = $2,"
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

  static void created(pqxx::work& tx, const EventData& d, const std::string& id, const Uuid& owner,
                      const std::string& at, ApplyContext& ctx) {
    std::vector<std::optional<std::string>> v;
    for (const auto& f : patient::text_fields()) {
      if (!projected_text_field(f)) continue;
      v.push_back(column_value(f, d.str(f.name), owner, ctx));
    }
    // v follows text_fields() order: first_name .. about_note, sex, profile_picture.
    tx.exec_params0(
        "INSERT INTO patients (patient_id, owner_id, first_name, last_name, phone_no, email, ssn,"
        " address, allergies_and_medication, date_of_birth, added_note, about_note, sex,"
        " profile_picture, tags, sessions, wallet_balance_cents, created_at, updated_at)"
        " VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb,"
        " $16::jsonb, $17, $18::timestamptz, $18::timestamptz)"
        " ON CONFLICT (patient_id) DO NOTHING",
        id, owner.str(), v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9],
        v[10].value_or(""), v[11], json_member(d, "tags"), json_member(d, "sessions"),
        d.integer("wallet_balance_cents"), at);
  }

  static void updated(pqxx::work& tx, const EventEnvelope& e, const EventData& d,
                      const std::string& id, const Uuid& owner, const std::string& at,
                      ApplyContext& ctx) {
    one_row(tx.exec_params("UPDATE patients SET updated_at = $2::timestamptz WHERE patient_id = $1",
                           id, at),
            e);
    // One statement per changed column keeps the SQL static (libpqxx 6 has no dynamic params);
    // column names come from the fixed field list, never from the event.
    for (const auto& f : patient::text_fields()) {
      if (!projected_text_field(f)) continue;
      auto value = d.optional_str(f.name);
      if (!value) continue;
      tx.exec_params0(
          "UPDATE patients SET " + tx.quote_name(f.name) + " = $2 WHERE patient_id = $1", id,
          column_value(f, *value, owner, ctx));
    }
    if (json::get_array(d.root(), "tags"))
      tx.exec_params0("UPDATE patients SET tags = $2::jsonb WHERE patient_id = $1", id,
                      json_member(d, "tags"));
    if (json::get_array(d.root(), "sessions"))
      tx.exec_params0("UPDATE patients SET sessions = $2::jsonb WHERE patient_id = $1", id,
                      json_member(d, "sessions"));
    if (auto cents = json::get_int(d.root(), "wallet_balance_cents"))
      tx.exec_params0("UPDATE patients SET wallet_balance_cents = $2 WHERE patient_id = $1", id,
                      *cents);
  }
};

}  // namespace

std::unique_ptr<Projection> make_patients_projection() {
  return std::make_unique<PatientsProjection>();
}

}  // namespace counsel::projections
