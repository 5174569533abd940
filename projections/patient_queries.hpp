#pragma once
// Reads of read.patients for the api. Who may see which record is decided here in SQL for
// lists (by viewer) and by the api for single records (PatientRecord carries the owner). What a
// viewer may see of a record is decided in one place, redact_for(), which every rendering of a
// record goes through.
#include <pqxx/pqxx>

#include <optional>
#include <string>

#include "domain/time.hpp"
#include "projections/read_queries.hpp"

namespace counsel::projections {

// Who reads a record, which decides both which records a list holds and which fields show.
enum class PatientViewer {
  admin,           // every record, every field, except an anonymous client's identity
  admin_revealed,  // every field: an admin whose reason for looking is recorded
  owner,           // a client: their own record only, every field
  counselor,       // the records of clients with a session with them, through redact_for()
};

// One row of read.patients in clear text, with what read.users says about its owner's
// anonymity. Text fields are nullopt when empty or erased.
struct PatientRecord {
  std::string id;
  std::string owner_id;  // the client it belongs to
  std::optional<std::string> first_name;
  std::optional<std::string> last_name;
  std::optional<std::string> phone_no;
  std::optional<std::string> email;
  std::optional<std::string> ssn;
  std::optional<std::string> address;
  std::optional<std::string> allergies_and_medication;
  std::optional<std::string> date_of_birth;
  std::optional<std::string> sex;
  std::optional<std::string> added_note;
  std::optional<std::string> about_note;
  std::optional<std::string> profile_picture;
  std::string tags_json = "[]";  // a JSON array of strings
  // A JSON array of session objects as they were given (decrypted); once the owner is erased
  // each keeps only its session_id, with "erased": true.
  std::string sessions_json = "[]";
  int64_t wallet_balance_cents = 0;
  Timestamp created_at{};
  Timestamp updated_at{};
  bool owner_anonymous = false;  // the owner appears to others under their alias only
  std::optional<std::string> owner_alias;
  // Set by redact_for(): the names are the alias and every identifying field is null.
  bool identity_hidden = false;
};

// The record as `viewer` may see it. The owner and an admin see everything. A counsellor sees
// the SSN masked and, when the owner is anonymous, the alias as first_name with last_name,
// phone_no, email, ssn, address, date_of_birth, about_note and profile_picture null.
PatientRecord redact_for(PatientViewer viewer, PatientRecord record);

// The patient object as `viewer` may see it (always through redact_for()): {id, owner_id,
// first_name, last_name, phone_no, email, ssn, address, allergies_and_medication,
// date_of_birth, sex, added_note, about_note, profile_picture, tags, sessions, wallet_balance
// ("12.50"), created_at, updated_at}, + `anonymous: true` when the identity is hidden.
std::string patient_json(PatientViewer viewer, const PatientRecord& record);

// Empty strings mean "no filter"; each is a case-insensitive substring match. name matches the
// first name, the last name or "first last". For a counsellor the filters match only what
// redact_for() shows them: an anonymous client's record matches name on the alias only and
// never matches phone or email.
struct PatientFilter {
  std::string name;
  std::string phone;
  std::string email;
  int page = 1;
  int per_page = kDefaultPerPage;
};

// {results: [patient object as `viewer` may see it], total, page, per_page, total_pages,
// has_next, has_previous}, ordered by the last name, first name (as shown) and id.
std::string list_patients(pqxx::connection& conn, PatientViewer viewer, const std::string& user_id,
                          const PatientFilter& filter);

// The record in full (not redacted: the api decides who reads it and renders it with
// patient_json()).
std::optional<PatientRecord> get_patient(pqxx::connection& conn, const std::string& id);

// True when read.sessions holds any session (in any state) between the two.
bool has_session_between(pqxx::connection& conn, const std::string& counselor_id,
                         const std::string& client_id);

}  // namespace counsel::projections
