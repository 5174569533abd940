#pragma once
// The patient aggregate (stream patient-<id>, id "p_" + 6 lowercase alphanumerics): the patient
// record of one client (seed 003). Personal fields travel as "enc:v1:" ciphertext sealed with the
// owning client's key, so the aggregate cannot check their format: validate_input() holds those
// rules and the api runs it on the clear text before it encrypts. decide() enforces what the
// ciphertext still allows: ownership, existence, tags, sessions and the wallet never going
// below zero. Phone and owner uniqueness are reserved in PostgreSQL before the command (like
// identity.email_claims).
#include <boost/container/flat_map.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/events/envelope.hpp"
#include "domain/expected.hpp"
#include "domain/ids.hpp"
#include "domain/json.hpp"
#include "domain/rejection.hpp"
#include "domain/time.hpp"

namespace counsel::patient {

// Every rule violation carries this code and a message "<field>: <what was expected>".
inline constexpr const char* kValidationFailed = "validation_failed";
inline constexpr size_t kMaxEncryptedChars = 16384;
inline constexpr size_t kMaxNameChars = 100;
inline constexpr size_t kMaxEmailChars = 254;
inline constexpr size_t kMaxAddressChars = 500;
inline constexpr size_t kMaxAllergiesChars = 5000;
inline constexpr size_t kMaxAddedNoteChars = 500;
inline constexpr size_t kMaxAboutNoteChars = 250;
inline constexpr size_t kMaxPictureChars = 2048;
inline constexpr size_t kMaxTags = 50;
inline constexpr size_t kMaxTagChars = 64;
inline constexpr size_t kMaxSessions = 500;
inline constexpr size_t kMaxSessionJsonChars = 2048;
inline constexpr size_t kMaxSessionIdChars = 64;
// A sealed session entry's `details` (see "Session entries" below): a clear remainder of at
// most kMaxSessionJsonChars bytes seals to base64 of it plus 40 bytes of nonce and tag.
inline constexpr size_t kMaxSealedSessionDetailsChars = 4096;
// A DecimalField(max_digits=12, decimal_places=2): at most 9,999,999,999.99.
inline constexpr int64_t kMaxWalletCents = 999'999'999'999;

bool valid_patient_id(std::string_view id);  // ^p_[a-z0-9]{6}$
inline std::string patient_stream(std::string_view id) {
  return "patient-" + std::string(id);
}
// The digits of a phone number without its leading '+': the form uniqueness is checked on.
std::string phone_digits(std::string_view phone);

// The record's fields. `text` holds the string fields by name (see text_fields()); personal
// ones are ciphertext in commands and events, clear text in validate_input()'s result (which
// has "password" where commands have "password_hash"). sessions are canonical JSON objects,
// sealed in commands and events (see "Session entries"), clear in validate_input()'s result.
struct Details {
  // Sorted by name like a std::map, in one allocation: a processor holds a record's dozen
  // fields per patient, and a map's node per field cost about 600 bytes more each.
  boost::container::flat_map<std::string, std::string> text;
  std::optional<std::vector<std::string>> tags;
  std::optional<std::vector<std::string>> sessions;
  std::optional<int64_t> wallet_balance_cents;
  friend bool operator==(const Details&, const Details&) = default;
};

struct TextField {
  const char* name;
  bool sensitive;  // encrypted with the owner's key in commands and events
  bool required;
};
// first_name, last_name, phone_no, email, ssn, address, allergies_and_medication,
// date_of_birth, added_note, about_note, password_hash, sex, profile_picture.
const std::vector<TextField>& text_fields();

// ---- clear-text rules (seed 003), run by the api before encryption ----
enum class InputMode {
  create,   // POST: every required field
  replace,  // PUT: every required field; absent optional fields stay as they are
  partial   // PATCH: only the fields given
};
struct Input {
  std::optional<std::string> id;  // only on create; generated when absent
  Details details;                // clear text; "password" instead of "password_hash"
};
Expected<Input, Rejection> validate_input(const json::Value& body, InputMode mode,
                                          std::chrono::year_month_day today);
// A decimal amount (JSON number or string) with at most two decimals, in cents.
Expected<int64_t, Rejection> parse_money(const json::Value& value, const char* field,
                                         int64_t max_abs_cents);
// {tag: "..."} -> the trimmed tag.
Expected<std::string, Rejection> parse_tag_body(const json::Value& body);
// {session_id: "..."} or {session: {...}} (or a bare session object with an id) -> one
// canonical JSON object for the sessions array.
Expected<std::string, Rejection> parse_session_body(const json::Value& body);

// Adds `d`'s fields to the object `doc` as commands and events carry them (sessions as objects).
void write_details(json::Document& doc, const Details& d);

// ---- session entries ----
// A session entry names one of the client's sessions by session_id; its other members (a date,
// a counsellor's notes about the session) may be clinical. Since v2 of patient.created,
// patient.updated and patient.session_added, commands and events carry every entry sealed:
//   {"session_id": "<id>", "details": "enc:v1:..."}
// where details is the canonical JSON object of the entry's other members sealed with the
// owner's key (as the other personal fields), and absent when there are none (then the entry
// is {"session_id": "<id>"}: one spelling per entry). session_id stays clear: the record says
// which sessions it names and dedupes by id without decrypting anything. v1 events carried the
// entries in clear text; they still decode as logged.
struct SessionEntryParts {
  std::string session_id;
  std::string others;  // the canonical JSON object of the other members; "" when there are none
};
// A clear entry (canonical JSON object, as validate_input() and parse_session_body() give
// them) split for sealing; nullopt when it has no string session_id.
std::optional<SessionEntryParts> split_session_entry(std::string_view entry);
// The sealed entry as commands carry it; `sealed_details` is "" when there are no others.
std::string sealed_session_entry(std::string_view session_id, std::string_view sealed_details);
// The clear entry again (the read side, once details is decrypted); nullopt unless `others`
// is a JSON object.
std::optional<std::string> joined_session_entry(std::string_view session_id,
                                                std::string_view others);

// ---- events ----
// patient.created, patient.updated and patient.session_added are written at v2, their session
// entries sealed (see "Session entries"); v1 (still in the log) decodes into the same structs.
struct PatientCreated {
  static constexpr const char* type = "patient.created";
  static constexpr int version = 2;
  std::string patient_id;
  UserId owner_id;
  Details details;  // complete
  friend bool operator==(const PatientCreated&, const PatientCreated&) = default;
};
struct PatientUpdated {
  static constexpr const char* type = "patient.updated";
  static constexpr int version = 2;
  std::string patient_id;
  UserId owner_id;
  Details changes;  // only the fields that were given
  friend bool operator==(const PatientUpdated&, const PatientUpdated&) = default;
};
struct PatientDeleted {
  static constexpr const char* type = "patient.deleted";
  std::string patient_id;
  UserId owner_id;
  friend bool operator==(const PatientDeleted&, const PatientDeleted&) = default;
};
struct TagAdded {
  static constexpr const char* type = "patient.tag_added";
  std::string patient_id;
  UserId owner_id;
  std::string tag;
  friend bool operator==(const TagAdded&, const TagAdded&) = default;
};
struct TagRemoved {
  static constexpr const char* type = "patient.tag_removed";
  std::string patient_id;
  UserId owner_id;
  std::string tag;
  friend bool operator==(const TagRemoved&, const TagRemoved&) = default;
};
struct SessionAdded {
  static constexpr const char* type = "patient.session_added";
  static constexpr int version = 2;
  std::string patient_id;
  UserId owner_id;
  std::string session;  // canonical JSON object; sealed (clear text only when upcast from v1)
  friend bool operator==(const SessionAdded&, const SessionAdded&) = default;
};
struct WalletUpdated {
  static constexpr const char* type = "patient.wallet_updated";
  std::string patient_id;
  UserId owner_id;
  int64_t amount_cents = 0;
  int64_t balance_cents = 0;
  friend bool operator==(const WalletUpdated&, const WalletUpdated&) = default;
};
using Event = std::variant<PatientCreated, PatientUpdated, PatientDeleted, TagAdded, TagRemoved,
                           SessionAdded, WalletUpdated>;
std::string_view event_type(const Event& e);

// ---- state ----
struct State {
  std::string patient_id;  // from the stream key; "" if the key names no valid id
  bool exists = false;
  bool deleted = false;  // ids are never reused
  UserId owner_id;
  Details details;  // complete once created
};
State initial_state(std::string_view patient_id);

// ---- commands (patient.create, .update, .delete, .add_tag, .remove_tag, .add_session,
// .update_wallet) ----
struct Create {
  std::string patient_id;
  UserId owner_id;
  Details details;
};
struct Update {
  Details changes;
};
struct Delete {};
struct AddTag {
  std::string tag;
};
struct RemoveTag {
  std::string tag;
};
struct AddSession {
  std::string session;  // sealed
};
struct UpdateWallet {
  int64_t amount_cents = 0;
};
using Command = std::variant<Create, Update, Delete, AddTag, RemoveTag, AddSession, UpdateWallet>;

bool handles_command(std::string_view command_type);
Expected<Command, Rejection> parse_command(std::string_view command_type, const json::Value& data);
Expected<std::vector<Event>, Rejection> decide(const State& s, const Command& c, const Actor& actor,
                                               Timestamp now);
void evolve(State& s, const Event& e);
// Writes each type's latest version (2 for patient.created, .updated and .session_added).
NewEvent encode(const Event& e);
// Reads every version the log may hold: v1 entries in clear text, v2 entries only sealed.
std::optional<Event> decode(std::string_view type, int version, const json::Value& data);

// What the command response may show without decrypting anything:
// {id, owner_id, sex, profile_picture, tags, sessions, wallet_balance, deleted}; "null" before
// creation. Sealed session entries show their session_id only. The api answers with the read
// model's decrypted record when it can.
std::string patient_view_json(const State& s);
// "12.50" for 1250.
std::string format_cents(int64_t cents);

}  // namespace counsel::patient
