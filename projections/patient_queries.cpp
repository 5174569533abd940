#include "projections/patient_queries.hpp"

#include <algorithm>

#include "domain/aggregates/patient.hpp"
#include "domain/json.hpp"
#include "domain/uuid.hpp"

namespace counsel::projections {
namespace {

const std::string kColumns =
    "p.patient_id, p.owner_id::text, p.first_name, p.last_name, p.phone_no, p.email, p.ssn,"
    " p.address, p.allergies_and_medication, p.date_of_birth, p.sex, p.added_note,"
    " p.about_note, p.profile_picture, p.tags::text, p.sessions::text, p.wallet_balance_cents,"
    " (extract(epoch FROM p.created_at) * 1000)::int8,"
    " (extract(epoch FROM p.updated_at) * 1000)::int8";

void str_or_null(json::Writer& w, std::string_view key, const pqxx::field& f) {
  json::key(w, key);
  if (f.is_null()) {
    w.Null();
  } else {
    json::write_string(w, f.c_str());
  }
}

void time_field(json::Writer& w, std::string_view key, const pqxx::field& f) {
  json::key(w, key);
  json::write_string(w, format_rfc3339(Timestamp{std::chrono::milliseconds{f.as<int64_t>()}}));
}

void raw(json::Writer& w, std::string_view key, const pqxx::field& f) {
  json::key(w, key);
  std::string_view text = f.c_str();
  w.RawValue(text.data(), text.size(), rapidjson::kArrayType);
}

void write_patient(json::Writer& w, const pqxx::row& r) {
  w.StartObject();
  json::key(w, "id");
  json::write_string(w, r[0].c_str());
  json::key(w, "owner_id");
  json::write_string(w, r[1].c_str());
  static const char* kText[] = {"first_name",
                                "last_name",
                                "phone_no",
                                "email",
                                "ssn",
                                "address",
                                "allergies_and_medication",
                                "date_of_birth",
                                "sex",
                                "added_note",
                                "about_note",
                                "profile_picture"};
  for (int i = 0; i < 12; ++i) str_or_null(w, kText[i], r[2 + i]);
  raw(w, "tags", r[14]);
  raw(w, "sessions", r[15]);
  json::key(w, "wallet_balance");
  json::write_string(w, patient::format_cents(r[16].as<int64_t>()));
  time_field(w, "created_at", r[17]);
  time_field(w, "updated_at", r[18]);
  w.EndObject();
}

std::string like_pattern(const std::string& q) {
  std::string out = "%";
  for (char c : q) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out + "%";
}

}  // namespace

std::string list_patients(pqxx::connection& conn, PatientScope scope, const std::string& user_id,
                          const PatientFilter& filter) {
  const int page = std::max(filter.page, 1);
  const int per_page = std::clamp(filter.per_page, 1, kMaxPerPage);
  // A malformed user id (never from a verified token) scopes to nothing.
  const std::string me = Uuid::parse(user_id) ? user_id : "00000000-0000-0000-0000-000000000000";
  std::string where = " FROM read.patients p WHERE ";
  switch (scope) {
    case PatientScope::all:
      where += "($1::uuid IS NOT NULL)";
      break;
    case PatientScope::owner:
      where += "p.owner_id = $1::uuid";
      break;
    case PatientScope::counselor:
      where +=
          "p.owner_id IN (SELECT s.client_id FROM read.sessions s"
          " WHERE s.counselor_id = $1::uuid)";
      break;
  }
  where +=
      " AND ($2 = '' OR p.first_name ILIKE $3 OR p.last_name ILIKE $3"
      "      OR (p.first_name || ' ' || p.last_name) ILIKE $3)"
      " AND ($4 = '' OR p.phone_no ILIKE $5)"
      " AND ($6 = '' OR p.email ILIKE $7)";
  pqxx::read_transaction tx(conn);
  const auto name = like_pattern(filter.name);
  const auto phone = like_pattern(filter.phone);
  const auto email = like_pattern(filter.email);
  const auto total = tx.exec_params1("SELECT count(*)" + where, me, filter.name, name, filter.phone,
                                     phone, filter.email, email)[0]
                         .as<int64_t>();
  const auto rows = tx.exec_params(
      "SELECT " + kColumns + where +
          " ORDER BY lower(p.last_name) NULLS LAST, lower(p.first_name) NULLS LAST, p.patient_id"
          " LIMIT $8 OFFSET $9",
      me, filter.name, name, filter.phone, phone, filter.email, email, per_page,
      static_cast<int64_t>(page - 1) * per_page);
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "results");
  w.StartArray();
  for (const auto& row : rows) write_patient(w, row);
  w.EndArray();
  const int64_t total_pages = (total + per_page - 1) / per_page;
  json::key(w, "total");
  w.Int64(total);
  json::key(w, "page");
  w.Int(page);
  json::key(w, "per_page");
  w.Int(per_page);
  json::key(w, "total_pages");
  w.Int64(total_pages);
  json::key(w, "has_next");
  w.Bool(page < total_pages);
  json::key(w, "has_previous");
  w.Bool(page > 1);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

std::optional<PatientRecord> get_patient(pqxx::connection& conn, const std::string& id) {
  if (!patient::valid_patient_id(id)) return std::nullopt;
  pqxx::read_transaction tx(conn);
  const auto rows =
      tx.exec_params("SELECT " + kColumns + " FROM read.patients p WHERE p.patient_id = $1", id);
  if (rows.empty()) return std::nullopt;
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  write_patient(w, rows[0]);
  return PatientRecord{std::string(sb.GetString(), sb.GetSize()), rows[0][1].c_str(),
                       rows[0][4].is_null() ? "" : rows[0][4].c_str()};
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
