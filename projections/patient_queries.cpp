#include "projections/patient_queries.hpp"

#include <algorithm>
#include <array>

#include "domain/aggregates/patient.hpp"
#include "domain/json.hpp"
#include "domain/uuid.hpp"
#include "projections/like_pattern.hpp"
#include "projections/page_json.hpp"

namespace counsel::projections {
namespace {

const std::string kColumns =
    "p.patient_id, p.owner_id::text, p.first_name, p.last_name, p.phone_no, p.email, p.ssn,"
    " p.address, p.allergies_and_medication, p.date_of_birth, p.sex, p.added_note,"
    " p.about_note, p.profile_picture, p.tags::text, p.sessions::text, p.wallet_balance_cents,"
    " (extract(epoch FROM p.created_at) * 1000)::int8,"
    " (extract(epoch FROM p.updated_at) * 1000)::int8,"
    " coalesce(u.anonymous, false), u.alias";

// The owner's row in read.users says whether they are anonymous and under which alias.
const std::string kFrom = " FROM read.patients p LEFT JOIN read.users u ON u.user_id = p.owner_id";

using TextMember = std::optional<std::string> PatientRecord::*;
struct TextColumn {
  const char* name;
  TextMember member;
};
// The text fields in column (and response) order, from p.first_name (column 2) on.
constexpr std::array<TextColumn, 12> kTextColumns = {{
    {"first_name", &PatientRecord::first_name},
    {"last_name", &PatientRecord::last_name},
    {"phone_no", &PatientRecord::phone_no},
    {"email", &PatientRecord::email},
    {"ssn", &PatientRecord::ssn},
    {"address", &PatientRecord::address},
    {"allergies_and_medication", &PatientRecord::allergies_and_medication},
    {"date_of_birth", &PatientRecord::date_of_birth},
    {"sex", &PatientRecord::sex},
    {"added_note", &PatientRecord::added_note},
    {"about_note", &PatientRecord::about_note},
    {"profile_picture", &PatientRecord::profile_picture},
}};
constexpr int kFirstTextColumn = 2;

// A counsellor needs no SSN to counsel (payments go through the wallet, not the SSN), so none
// of its digits is shown: even the customary last four, next to the date of birth a counsellor
// sees, are what identity checks ask for and narrow down the rest. The mask still tells them
// that one is on file.
constexpr const char* kMaskedSsn = "***-**-****";

// Whether `viewer` sees an anonymous owner only under their alias. The list query's filters and
// order follow the same rule, so a counsellor cannot search or sort by what they cannot see.
// Behind an alias the identity shows only to the client and to an admin with a recorded reason.
bool hides_anonymous_identity(PatientViewer viewer) {
  return viewer == PatientViewer::counselor || viewer == PatientViewer::admin;
}

std::optional<std::string> text(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return std::string(f.c_str(), f.size());
}

Timestamp time_from_epoch_ms(const pqxx::field& f) {
  return Timestamp{std::chrono::milliseconds{f.as<int64_t>()}};
}

PatientRecord read_record(const pqxx::row& r) {
  PatientRecord p;
  p.id = r[0].c_str();
  p.owner_id = r[1].c_str();
  for (size_t i = 0; i < kTextColumns.size(); ++i)
    p.*(kTextColumns[i].member) = text(r[kFirstTextColumn + static_cast<int>(i)]);
  p.tags_json = r[14].c_str();
  p.sessions_json = r[15].c_str();
  p.wallet_balance_cents = r[16].as<int64_t>();
  p.created_at = time_from_epoch_ms(r[17]);
  p.updated_at = time_from_epoch_ms(r[18]);
  p.owner_anonymous = r[19].as<bool>();
  p.owner_alias = text(r[20]);
  return p;
}

void write_record(json::Writer& w, const PatientRecord& p) {
  w.StartObject();
  json::key(w, "id");
  json::write_string(w, p.id);
  json::key(w, "owner_id");
  json::write_string(w, p.owner_id);
  for (const auto& column : kTextColumns) {
    json::key(w, column.name);
    const auto& value = p.*(column.member);
    if (value) {
      json::write_string(w, *value);
    } else {
      w.Null();
    }
  }
  json::key(w, "tags");
  w.RawValue(p.tags_json.data(), p.tags_json.size(), rapidjson::kArrayType);
  json::key(w, "sessions");
  w.RawValue(p.sessions_json.data(), p.sessions_json.size(), rapidjson::kArrayType);
  json::key(w, "wallet_balance");
  json::write_string(w, patient::format_cents(p.wallet_balance_cents));
  json::key(w, "created_at");
  json::write_string(w, format_rfc3339(p.created_at));
  json::key(w, "updated_at");
  json::write_string(w, format_rfc3339(p.updated_at));
  if (p.identity_hidden) {
    json::key(w, "anonymous");
    w.Bool(true);
  }
  w.EndObject();
}

}  // namespace

PatientRecord redact_for(PatientViewer viewer, PatientRecord record) {
  // A counsellor never sees the SSN; the anonymous clients' identity is hidden below.
  if (viewer == PatientViewer::counselor && record.ssn) record.ssn = kMaskedSsn;
  if (record.owner_anonymous && hides_anonymous_identity(viewer)) {
    // The alias stands in for the name (never a fallback to the real one when it is missing);
    // everything that would tell a counsellor who the client is goes. The clinical fields
    // (allergies and medication, sex, the care note, tags, sessions) stay: they are why the
    // counsellor reads the record. about_note goes with them: it is the client's free-text
    // description of themself, like the profile bio the alias view of /clients hides.
    record.first_name = record.owner_alias;
    record.last_name.reset();
    record.phone_no.reset();
    record.email.reset();
    record.ssn.reset();
    record.address.reset();
    record.date_of_birth.reset();
    record.about_note.reset();
    record.profile_picture.reset();
    record.identity_hidden = true;
  }
  return record;
}

std::string patient_json(PatientViewer viewer, const PatientRecord& record) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  write_record(w, redact_for(viewer, record));
  return {sb.GetString(), sb.GetSize()};
}

std::string list_patients(pqxx::connection& conn, PatientViewer viewer, const std::string& user_id,
                          const PatientFilter& filter) {
  const int page = std::max(filter.page, 1);
  const int per_page = std::clamp(filter.per_page, 1, kMaxPerPage);
  // A malformed user id (never from a verified token) scopes to nothing.
  const std::string me = Uuid::parse(user_id) ? user_id : "00000000-0000-0000-0000-000000000000";
  std::string where = kFrom + " WHERE ";
  switch (viewer) {
    case PatientViewer::admin:
    case PatientViewer::admin_revealed:
      where += "($1::uuid IS NOT NULL)";
      break;
    case PatientViewer::owner:
      where += "p.owner_id = $1::uuid";
      break;
    case PatientViewer::counselor:
      where +=
          "p.owner_id IN (SELECT s.client_id FROM read.sessions s"
          " WHERE s.counselor_id = $1::uuid)";
      break;
  }
  // $8: the viewer sees anonymous owners under their alias only (redact_for()), so for them
  // such a record matches a name on the alias alone and never a phone or email filter, and it
  // sorts by the alias: matching or ordering on hidden fields would let a counsellor probe them.
  const std::string hidden = "($8::boolean AND coalesce(u.anonymous, false))";
  where += " AND ($2 = '' OR CASE WHEN " + hidden +
           " THEN coalesce(u.alias ILIKE $3, false)"
           " ELSE (p.first_name ILIKE $3 OR p.last_name ILIKE $3"
           "       OR (p.first_name || ' ' || p.last_name) ILIKE $3) END)"
           " AND ($4 = '' OR (NOT " +
           hidden + " AND p.phone_no ILIKE $5))" + " AND ($6 = '' OR (NOT " + hidden +
           " AND p.email ILIKE $7))";
  const std::string order = " ORDER BY lower(CASE WHEN " + hidden +
                            " THEN NULL ELSE p.last_name END) NULLS LAST,"
                            " lower(CASE WHEN " +
                            hidden +
                            " THEN u.alias ELSE p.first_name END) NULLS LAST, p.patient_id";
  const bool hide_anonymous = hides_anonymous_identity(viewer);
  pqxx::read_transaction tx(conn);
  const auto name = contains_pattern(filter.name);
  const auto phone = contains_pattern(filter.phone);
  const auto email = contains_pattern(filter.email);
  const auto total = tx.exec_params1("SELECT count(*)" + where, me, filter.name, name, filter.phone,
                                     phone, filter.email, email, hide_anonymous)[0]
                         .as<int64_t>();
  const auto rows =
      tx.exec_params("SELECT " + kColumns + where + order + " LIMIT $9 OFFSET $10", me, filter.name,
                     name, filter.phone, phone, filter.email, email, hide_anonymous, per_page,
                     static_cast<int64_t>(page - 1) * per_page);
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "results");
  w.StartArray();
  for (const auto& row : rows) write_record(w, redact_for(viewer, read_record(row)));
  w.EndArray();
  write_page_members(w, total, page, per_page);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

std::optional<PatientRecord> get_patient(pqxx::connection& conn, const std::string& id) {
  if (!patient::valid_patient_id(id)) return std::nullopt;
  pqxx::read_transaction tx(conn);
  const auto rows = tx.exec_params("SELECT " + kColumns + kFrom + " WHERE p.patient_id = $1", id);
  if (rows.empty()) return std::nullopt;
  return read_record(rows[0]);
}

bool has_session_between(pqxx::connection& conn, const std::string& counselor_id,
                         const std::string& client_id) {
  if (!Uuid::parse(counselor_id) || !Uuid::parse(client_id)) return false;
  pqxx::read_transaction tx(conn);
  return !tx.exec_params(
                "SELECT 1 FROM read.sessions WHERE counselor_id = $1::uuid AND client_id = "
                "$2::uuid LIMIT 1",
                counselor_id, client_id)
              .empty();
}

}  // namespace counsel::projections
