#pragma once
// Reads of read.patients for the api. Who may see which record is decided here in SQL for
// lists (scope) and by the api for single records (PatientRecord carries the owner).
#include <pqxx/pqxx>

#include <optional>
#include <string>

#include "projections/read_queries.hpp"

namespace counsel::projections {

// Empty strings mean "no filter"; each is a case-insensitive substring match. name matches the
// first name, the last name or "first last".
struct PatientFilter {
  std::string name;
  std::string phone;
  std::string email;
  int page = 1;
  int per_page = kDefaultPerPage;
};

enum class PatientScope {
  all,        // admin
  owner,      // a client: their own record only
  counselor,  // the records of clients who have a session with this counsellor
};

// {results: [patient], total, page, per_page, total_pages, has_next, has_previous}, ordered by
// last name, first name, id. Patient object: {id, owner_id, first_name, last_name, phone_no,
// email, ssn, address, allergies_and_medication, date_of_birth, sex, added_note, about_note,
// profile_picture, tags, sessions, wallet_balance ("12.50"), created_at, updated_at}.
std::string list_patients(pqxx::connection& conn, PatientScope scope, const std::string& user_id,
                          const PatientFilter& filter);

struct PatientRecord {
  std::string json;      // the patient object
  std::string owner_id;  // the client it belongs to
  std::string phone_no;  // clear text ("" once erased), to release its claim on change
};
std::optional<PatientRecord> get_patient(pqxx::connection& conn, const std::string& id);

// True when read.sessions holds any session (in any state) between the two.
bool has_session_between(pqxx::connection& conn, const std::string& counselor_id,
                         const std::string& client_id);

}  // namespace counsel::projections
