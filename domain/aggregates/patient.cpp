#include "domain/aggregates/patient.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "domain/aggregates/field_rules.hpp"

namespace counsel::patient {
namespace {

constexpr const char* kInvalidEvent = "invalid_event";
constexpr std::string_view kEncryptedPrefix = "enc:v1:";

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

using Events = Expected<std::vector<Event>, Rejection>;

Rejection reject(RejectionKind kind, std::string code, std::string message) {
  return Rejection{kind, std::move(code), std::move(message)};
}

Rejection invalid(std::string_view field, std::string_view expected) {
  return reject(RejectionKind::invalid, kValidationFailed,
                std::string(field) + ": " + std::string(expected));
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool all_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), is_digit);
}

bool valid_phone(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  return s.size() >= 9 && s.size() <= 15 && all_digits(s);
}

bool valid_ssn(std::string_view s) {
  return s.size() == 11 && s[3] == '-' && s[6] == '-' && all_digits(s.substr(0, 3)) &&
         all_digits(s.substr(4, 2)) && all_digits(s.substr(7, 4));
}

bool valid_sex(std::string_view s) {
  return s == "M" || s == "F" || s == "O" || s == "P";
}

// An absolute http(s) URL without spaces: the picture is shown by frontends, so anything else
// (javascript:, data:) is refused.
bool plausible_url(std::string_view u) {
  bool scheme = u.starts_with("https://") || u.starts_with("http://");
  if (!scheme || u.size() <= 8) return false;
  for (unsigned char c : u)
    if (c <= ' ' || c == 0x7F || c == '"' || c == '<' || c == '>') return false;
  return true;
}

// The clear-text form of each text field: its limit and the check beyond length.
struct ClearRule {
  const char* name;
  bool required;
  size_t max_chars;
  bool (*check)(std::string_view);
  const char* expected;  // what the check wants, for the message
};

const std::vector<ClearRule>& clear_rules() {
  static const std::vector<ClearRule> rules = {
      {"first_name", true, kMaxNameChars, nullptr, nullptr},
      {"last_name", true, kMaxNameChars, nullptr, nullptr},
      {"phone_no", true, 16, valid_phone, "expected 9 to 15 digits, optionally after a leading +"},
      {"email", false, kMaxEmailChars, fields::plausible_email, "expected a valid email address"},
      {"ssn", false, 11, valid_ssn, "expected the format XXX-XX-XXXX (digits)"},
      {"address", false, kMaxAddressChars, nullptr, nullptr},
      {"allergies_and_medication", true, kMaxAllergiesChars, nullptr, nullptr},
      {"date_of_birth", true, 10, nullptr, nullptr},  // checked against today below
      {"sex", true, 1, valid_sex, "expected one of M, F, O, P"},
      {"added_note", false, kMaxAddedNoteChars, nullptr, nullptr},
      {"about_note", false, kMaxAboutNoteChars, nullptr, nullptr},
      {"profile_picture", false, kMaxPictureChars, plausible_url,
       "expected an http(s) URL of at most 2048 characters"},
  };
  return rules;
}

const json::Value* member(const json::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::string view_string(const json::Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

Expected<std::vector<std::string>, Rejection> read_tags(const json::Value& v, const char* field,
                                                        bool exact) {
  const std::string shape = "expected a JSON array of at most " + std::to_string(kMaxTags) +
                            " non-empty strings of at most " + std::to_string(kMaxTagChars) +
                            " characters";
  if (!v.IsArray() || v.Size() > kMaxTags) return unexpected(invalid(field, shape));
  std::vector<std::string> out;
  for (auto& e : v.GetArray()) {
    if (!e.IsString()) return unexpected(invalid(field, shape));
    auto raw = view_string(e);
    auto t = fields::trim(raw);
    if (t.empty() || fields::utf8_length(t) > kMaxTagChars || (exact && t != raw))
      return unexpected(invalid(field, shape));
    if (std::find(out.begin(), out.end(), t) != out.end()) {
      if (exact) return unexpected(invalid(field, "tags must be distinct"));
      continue;
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::string session_id_object(std::string_view id) {
  json::Document d;
  d.SetObject();
  d.AddMember("session_id",
              json::Value(id.data(), static_cast<rapidjson::SizeType>(id.size()), d.GetAllocator()),
              d.GetAllocator());
  return json::canonical(d);
}

Expected<std::string, Rejection> read_session_entry(const json::Value& e, const char* field,
                                                    bool allow_id_string) {
  if (allow_id_string && e.IsString()) {
    auto id = fields::trim(view_string(e));
    if (id.empty() || fields::utf8_length(id) > kMaxSessionIdChars)
      return unexpected(invalid(field, "a session id is a non-empty string of at most " +
                                           std::to_string(kMaxSessionIdChars) + " characters"));
    return session_id_object(id);
  }
  if (!e.IsObject() || e.MemberCount() == 0)
    return unexpected(invalid(field, "expected a session id or a non-empty session object"));
  auto text = json::canonical(e);
  if (text.size() > kMaxSessionJsonChars)
    return unexpected(invalid(field, "a session object is at most " +
                                         std::to_string(kMaxSessionJsonChars) + " bytes of JSON"));
  return text;
}

// A session entry as commands and v2 events carry it: {session_id, details (sealed)} with
// details absent when the entry has nothing but its id (patient.hpp, "Session entries"). Any
// other member would be clear text in the log.
Expected<std::string, Rejection> read_sealed_session_entry(const json::Value& e,
                                                           const char* field) {
  if (!e.IsObject())
    return unexpected(invalid(field, "expected a session object {session_id, details}"));
  auto id = json::get_string(e, "session_id");
  if (!id || id->empty() || id->size() > kMaxSessionJsonChars)
    return unexpected(invalid(field, "a session object needs a non-empty session_id string"));
  for (auto it = e.MemberBegin(); it != e.MemberEnd(); ++it) {
    const std::string_view name(it->name.GetString(), it->name.GetStringLength());
    if (name == "session_id") continue;
    if (name != "details")
      return unexpected(invalid(field,
                                "a session object holds only session_id and its details, sealed "
                                "(enc:v1:...)"));
    const auto& v = it->value;
    if (!v.IsString() || v.GetStringLength() <= kEncryptedPrefix.size() ||
        v.GetStringLength() > kMaxSealedSessionDetailsChars ||
        !view_string(v).starts_with(kEncryptedPrefix))
      return unexpected(invalid(field, "a session's details are sealed (enc:v1:...) in at most " +
                                           std::to_string(kMaxSealedSessionDetailsChars) +
                                           " characters"));
  }
  return json::canonical(e);
}

// How the entries of a sessions array arrive: in a request body (clear, ids alone allowed), in
// a v1 event (clear, as logged) or in a command or v2 event (sealed).
enum class EntryForm { request, logged_clear, sealed };

Expected<std::vector<std::string>, Rejection> read_sessions(const json::Value& v, const char* field,
                                                            EntryForm form) {
  if (!v.IsArray() || v.Size() > kMaxSessions)
    return unexpected(invalid(
        field, "expected a JSON array of at most " + std::to_string(kMaxSessions) + " sessions"));
  std::vector<std::string> out;
  for (auto& e : v.GetArray()) {
    auto entry = form == EntryForm::sealed
                     ? read_sealed_session_entry(e, field)
                     : read_session_entry(e, field, form == EntryForm::request);
    if (!entry) return unexpected(entry.error());
    out.push_back(std::move(*entry));
  }
  return out;
}

std::optional<std::string> session_id_of(std::string_view entry) {
  auto doc = json::parse(entry, nullptr, 32);
  if (!doc) return std::nullopt;
  auto id = json::get_string(*doc, "session_id");
  if (!id) return std::nullopt;
  return std::string(*id);
}

bool names_session(const std::vector<std::string>& sessions, std::string_view id) {
  return std::any_of(sessions.begin(), sessions.end(),
                     [&](const std::string& entry) { return session_id_of(entry) == id; });
}

Rejection with_code(Rejection r, const char* code) {
  r.code = code;
  return r;
}

// The fields as commands and events carry them (personal ones encrypted). `full`: every field
// must be present (created); otherwise only those given (updated). `sessions`: the form of the
// session entries (sealed in commands and from v2 on).
Expected<Details, Rejection> read_details(const json::Value& obj, bool full, const char* code,
                                          EntryForm sessions_form) {
  auto fail = [&](std::string_view field, std::string_view expected) {
    return reject(RejectionKind::invalid, code, std::string(field) + ": " + std::string(expected));
  };
  Details d;
  for (const auto& f : text_fields()) {
    auto* v = member(obj, f.name);
    if (!v) {
      if (full) return unexpected(fail(f.name, "this field is required"));
      continue;
    }
    if (!v->IsString()) return unexpected(fail(f.name, "expected a string"));
    std::string s = view_string(*v);
    if (s.empty()) {
      if (f.required) return unexpected(fail(f.name, "must not be empty"));
    } else if (f.sensitive) {
      if (!s.starts_with(kEncryptedPrefix) || s.size() > kMaxEncryptedChars)
        return unexpected(fail(f.name, "expected an encrypted value (enc:v1:...)"));
    } else if (std::string_view(f.name) == "sex") {
      if (!valid_sex(s)) return unexpected(fail(f.name, "expected one of M, F, O, P"));
    } else if (s.size() > kMaxPictureChars || !plausible_url(s)) {
      return unexpected(fail(f.name, "expected an http(s) URL of at most 2048 characters"));
    }
    d.text.emplace(f.name, std::move(s));
  }
  if (auto* v = member(obj, "tags")) {
    auto tags = read_tags(*v, "tags", true);
    if (!tags) return unexpected(with_code(tags.error(), code));
    d.tags = std::move(*tags);
  } else if (full) {
    return unexpected(fail("tags", "this field is required"));
  }
  if (auto* v = member(obj, "sessions")) {
    auto sessions = read_sessions(*v, "sessions", sessions_form);
    if (!sessions) return unexpected(with_code(sessions.error(), code));
    d.sessions = std::move(*sessions);
  } else if (full) {
    return unexpected(fail("sessions", "this field is required"));
  }
  if (auto* v = member(obj, "wallet_balance_cents")) {
    if (!v->IsInt64() || v->GetInt64() < 0 || v->GetInt64() > kMaxWalletCents)
      return unexpected(fail("wallet_balance_cents", "expected an integer between 0 and " +
                                                         std::to_string(kMaxWalletCents)));
    d.wallet_balance_cents = v->GetInt64();
  } else if (full) {
    return unexpected(fail("wallet_balance_cents", "this field is required"));
  }
  return d;
}

void add_string(json::Document& doc, const char* name, std::string_view value) {
  auto& a = doc.GetAllocator();
  doc.AddMember(json::Value(name, a),
                json::Value(value.data(), static_cast<rapidjson::SizeType>(value.size()), a), a);
}

json::Document event_doc(const std::string& patient_id, const UserId& owner) {
  json::Document doc;
  doc.SetObject();
  add_string(doc, "patient_id", patient_id);
  add_string(doc, "owner_id", owner.value().str());
  return doc;
}

bool is_staff(const Actor& actor) {
  // The system role is the ops tools, trusted like an admin.
  return actor.role == Role::admin || actor.role == Role::system;
}

bool may_write(const State& s, const Actor& actor) {
  return is_staff(actor) || (actor.role == Role::client && actor.id == s.owner_id);
}

// Counsellors annotate the records of their own clients; whether a session links them is
// read-side knowledge (read.sessions), so the api checks the link before sending the command.
bool may_annotate(const State& s, const Actor& actor) {
  return may_write(s, actor) || actor.role == Role::counselor;
}

Rejection not_owner() {
  return reject(RejectionKind::forbidden, "not_patient_owner",
                "only the patient's client or an admin may change this record");
}

template <class T>
bool contains(const std::vector<T>& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// The version encode writes: a type's own `version` if it has one (a later version of it).
template <class T>
constexpr int version_of() {
  if constexpr (requires { T::version; })
    return T::version;
  else
    return 1;
}

}  // namespace

bool valid_patient_id(std::string_view id) {
  if (id.size() != 8 || !id.starts_with("p_")) return false;
  for (char c : id.substr(2))
    if (!is_digit(c) && !(c >= 'a' && c <= 'z')) return false;
  return true;
}

std::string phone_digits(std::string_view phone) {
  if (!phone.empty() && phone.front() == '+') phone.remove_prefix(1);
  return std::string(phone);
}

const std::vector<TextField>& text_fields() {
  static const std::vector<TextField> f = {
      {"first_name", true, true},
      {"last_name", true, true},
      {"phone_no", true, true},
      {"email", true, false},
      {"ssn", true, false},
      {"address", true, false},
      {"allergies_and_medication", true, true},
      {"date_of_birth", true, true},
      {"added_note", true, false},
      {"about_note", true, false},
      {"password_hash", true, true},
      {"sex", false, true},
      {"profile_picture", false, false},
  };
  return f;
}

void write_details(json::Document& doc, const Details& d) {
  auto& a = doc.GetAllocator();
  for (const auto& [name, value] : d.text) add_string(doc, name.c_str(), value);
  if (d.tags) {
    json::Value arr(rapidjson::kArrayType);
    for (auto& t : *d.tags)
      arr.PushBack(json::Value(t.data(), static_cast<rapidjson::SizeType>(t.size()), a), a);
    doc.AddMember("tags", arr, a);
  }
  if (d.sessions) {
    json::Value arr(rapidjson::kArrayType);
    for (auto& s : *d.sessions) {
      auto parsed = json::parse(s, nullptr, 32);
      if (parsed) arr.PushBack(json::Value(*parsed, a), a);
    }
    doc.AddMember("sessions", arr, a);
  }
  if (d.wallet_balance_cents) doc.AddMember("wallet_balance_cents", *d.wallet_balance_cents, a);
}

Expected<int64_t, Rejection> parse_money(const json::Value& v, const char* field,
                                         int64_t max_abs_cents) {
  const std::string shape = "expected a decimal amount with at most 2 decimal places";
  int64_t cents = 0;
  if (v.IsString()) {
    std::string s = fields::trim(view_string(v));
    std::string_view t = s;
    bool negative = false;
    if (!t.empty() && (t.front() == '-' || t.front() == '+')) {
      negative = t.front() == '-';
      t.remove_prefix(1);
    }
    auto dot = t.find('.');
    auto whole = t.substr(0, dot);
    auto frac = dot == std::string_view::npos ? std::string_view() : t.substr(dot + 1);
    if (whole.empty() || !all_digits(whole) || !all_digits(frac) ||
        (dot != std::string_view::npos && (frac.empty() || frac.size() > 2)))
      return unexpected(invalid(field, shape));
    if (whole.size() > 13) return unexpected(invalid(field, "the amount is too large"));
    cents = std::strtoll(std::string(whole).c_str(), nullptr, 10) * 100;
    if (frac.size() >= 1) cents += (frac[0] - '0') * 10;
    if (frac.size() == 2) cents += frac[1] - '0';
    if (negative) cents = -cents;
  } else if (v.IsInt64()) {
    int64_t units = v.GetInt64();
    if (units > max_abs_cents / 100 || units < -(max_abs_cents / 100))
      return unexpected(invalid(field, "the amount is too large"));
    cents = units * 100;
  } else if (v.IsNumber()) {
    double d = v.GetDouble() * 100.0;
    if (!std::isfinite(d) || std::fabs(d) > static_cast<double>(max_abs_cents) + 0.5)
      return unexpected(invalid(field, "the amount is too large"));
    double r = std::round(d);
    // Binary doubles only approximate decimals: 12.34 * 100 is 1233.9999999999998.
    if (std::fabs(d - r) > 1e-6 * std::max(1.0, std::fabs(d)))
      return unexpected(invalid(field, shape));
    cents = static_cast<int64_t>(r);
  } else {
    return unexpected(invalid(field, shape));
  }
  if (cents > max_abs_cents || cents < -max_abs_cents)
    return unexpected(invalid(field, "the amount is too large"));
  return cents;
}

Expected<Input, Rejection> validate_input(const json::Value& body, InputMode mode,
                                          std::chrono::year_month_day today) {
  if (!body.IsObject()) return unexpected(invalid("body", "expected a JSON object"));
  const bool partial = mode == InputMode::partial;
  Input in;
  if (auto* v = member(body, "id"); v && mode == InputMode::create) {
    if (!v->IsString() || !valid_patient_id(view_string(*v)))
      return unexpected(invalid("id",
                                "expected \"p_\" followed by exactly 6 lowercase letters "
                                "or digits, e.g. p_abc123"));
    in.id = view_string(*v);
  }
  // The seed's order: the first broken rule is the one reported.
  auto* password = member(body, "password");
  if (!password && !partial) return unexpected(invalid("password", "this field is required"));
  if (password) {
    if (!password->IsString()) return unexpected(invalid("password", "expected a string"));
    auto p = view_string(*password);
    auto n = fields::utf8_length(p);
    if (n < 8 || n > 64)
      return unexpected(invalid("password", "must be between 8 and 64 characters"));
    in.details.text["password"] = std::move(p);
  }
  for (const auto& rule : clear_rules()) {
    auto* v = member(body, rule.name);
    if (!v) {
      if (rule.required && !partial)
        return unexpected(invalid(rule.name, "this field is required"));
      if (!rule.required && mode == InputMode::create) in.details.text[rule.name] = "";
      continue;
    }
    if (!v->IsString()) return unexpected(invalid(rule.name, "expected a string"));
    std::string s = fields::trim(view_string(*v));
    if (s.empty()) {
      if (rule.required) return unexpected(invalid(rule.name, "must not be empty"));
      in.details.text[rule.name] = "";  // an optional field is cleared
      continue;
    }
    if (fields::utf8_length(s) > rule.max_chars && !rule.check)
      return unexpected(
          invalid(rule.name, "at most " + std::to_string(rule.max_chars) + " characters"));
    if (rule.check && (fields::utf8_length(s) > rule.max_chars || !rule.check(s)))
      return unexpected(invalid(rule.name, rule.expected));
    if (std::string_view(rule.name) == "date_of_birth") {
      auto date = parse_date(s);
      if (!date) return unexpected(invalid(rule.name, "expected a date YYYY-MM-DD"));
      if (*date > today) return unexpected(invalid(rule.name, "must not be in the future"));
      if (date->year() < std::chrono::year{1900})
        return unexpected(invalid(rule.name, "must not be before 1900-01-01"));
    }
    in.details.text[rule.name] = std::move(s);
  }
  if (auto* v = member(body, "tags")) {
    auto tags = read_tags(*v, "tags", false);
    if (!tags) return unexpected(tags.error());
    in.details.tags = std::move(*tags);
  } else if (mode == InputMode::create) {
    in.details.tags = std::vector<std::string>{};
  }
  if (auto* v = member(body, "sessions")) {
    auto sessions = read_sessions(*v, "sessions", EntryForm::request);
    if (!sessions) return unexpected(sessions.error());
    in.details.sessions = std::move(*sessions);
  } else if (mode == InputMode::create) {
    in.details.sessions = std::vector<std::string>{};
  }
  if (auto* v = member(body, "wallet_balance")) {
    auto cents = parse_money(*v, "wallet_balance", kMaxWalletCents);
    if (!cents) return unexpected(cents.error());
    if (*cents < 0) return unexpected(invalid("wallet_balance", "must not be negative"));
    in.details.wallet_balance_cents = *cents;
  } else if (mode == InputMode::create) {
    in.details.wallet_balance_cents = 0;
  }
  return in;
}

Expected<std::string, Rejection> parse_tag_body(const json::Value& body) {
  auto* v = body.IsObject() ? member(body, "tag") : nullptr;
  if (!v) return unexpected(invalid("tag", "this field is required"));
  if (!v->IsString()) return unexpected(invalid("tag", "expected a string"));
  auto t = fields::trim(view_string(*v));
  if (t.empty()) return unexpected(invalid("tag", "must not be empty"));
  if (fields::utf8_length(t) > kMaxTagChars)
    return unexpected(invalid("tag", "at most " + std::to_string(kMaxTagChars) + " characters"));
  return t;
}

Expected<std::string, Rejection> parse_session_body(const json::Value& body) {
  if (!body.IsObject()) return unexpected(invalid("session_id", "this field is required"));
  if (auto* v = member(body, "session_id")) {
    if (!v->IsString()) return unexpected(invalid("session_id", "expected a string"));
    return read_session_entry(*v, "session_id", true);
  }
  if (auto* v = member(body, "session")) return read_session_entry(*v, "session", true);
  return unexpected(
      invalid("session_id", "this field is required (or give a session object as session)"));
}

std::optional<SessionEntryParts> split_session_entry(std::string_view entry) {
  auto doc = json::parse(entry, nullptr, 32);
  if (!doc || !doc->IsObject()) return std::nullopt;
  auto id = json::get_string(*doc, "session_id");
  if (!id) return std::nullopt;
  SessionEntryParts parts{std::string(*id), ""};
  doc->RemoveMember("session_id");
  if (doc->MemberCount() > 0) parts.others = json::canonical(*doc);
  return parts;
}

std::string sealed_session_entry(std::string_view session_id, std::string_view sealed_details) {
  json::Document d;
  d.SetObject();
  add_string(d, "session_id", session_id);
  if (!sealed_details.empty()) add_string(d, "details", sealed_details);
  return json::canonical(d);
}

std::optional<std::string> joined_session_entry(std::string_view session_id,
                                                std::string_view others) {
  auto doc = json::parse(others, nullptr, 32);
  if (!doc || !doc->IsObject()) return std::nullopt;
  doc->RemoveMember("session_id");
  add_string(*doc, "session_id", session_id);
  return json::canonical(*doc);
}

std::string_view event_type(const Event& e) {
  return std::visit([](const auto& x) -> std::string_view { return x.type; }, e);
}

State initial_state(std::string_view patient_id) {
  State s;
  if (valid_patient_id(patient_id)) s.patient_id = std::string(patient_id);
  return s;
}

bool handles_command(std::string_view t) {
  return t == "patient.create" || t == "patient.update" || t == "patient.delete" ||
         t == "patient.add_tag" || t == "patient.remove_tag" || t == "patient.add_session" ||
         t == "patient.update_wallet";
}

Expected<Command, Rejection> parse_command(std::string_view type, const json::Value& data) {
  if (!data.IsObject()) return unexpected(invalid("body", "expected a JSON object"));
  fields::Reader r{data, kValidationFailed};
  if (type == "patient.create") {
    auto id = json::get_string(data, "patient_id");
    if (!id || !valid_patient_id(*id))
      return unexpected(invalid("id",
                                "expected \"p_\" followed by exactly 6 lowercase letters "
                                "or digits"));
    auto owner = r.uuid("owner_id");
    if (!owner) return unexpected(owner.error());
    auto d = read_details(data, true, kValidationFailed, EntryForm::sealed);
    if (!d) return unexpected(d.error());
    return Command{Create{std::string(*id), UserId{*owner}, std::move(*d)}};
  }
  if (type == "patient.update") {
    auto d = read_details(data, false, kValidationFailed, EntryForm::sealed);
    if (!d) return unexpected(d.error());
    return Command{Update{std::move(*d)}};
  }
  if (type == "patient.delete") return Command{Delete{}};
  if (type == "patient.add_tag" || type == "patient.remove_tag") {
    auto tag = parse_tag_body(data);
    if (!tag) return unexpected(tag.error());
    if (type == "patient.add_tag") return Command{AddTag{std::move(*tag)}};
    return Command{RemoveTag{std::move(*tag)}};
  }
  if (type == "patient.add_session") {
    auto* v = member(data, "session");
    if (!v) return unexpected(invalid("session", "this field is required"));
    auto entry = read_sealed_session_entry(*v, "session");
    if (!entry) return unexpected(entry.error());
    return Command{AddSession{std::move(*entry)}};
  }
  if (type == "patient.update_wallet") {
    auto amount = r.integer("amount_cents", -kMaxWalletCents, kMaxWalletCents);
    if (!amount) return unexpected(invalid("amount", "the amount is out of range"));
    return Command{UpdateWallet{*amount}};
  }
  return unexpected(reject(RejectionKind::invalid, "unknown_command",
                           "the patient aggregate does not handle " + std::string(type)));
}

Expected<std::vector<Event>, Rejection> decide(const State& s, const Command& command,
                                               const Actor& actor, Timestamp /*now*/) {
  if (s.patient_id.empty())
    return unexpected(
        reject(RejectionKind::invalid, "invalid_stream", "the stream does not name a patient"));
  if (const auto* c = std::get_if<Create>(&command)) {
    if (c->patient_id != s.patient_id)
      return unexpected(reject(RejectionKind::invalid, "stream_mismatch",
                               "patient_id does not match the patient stream"));
    if (!is_staff(actor) && !(actor.role == Role::client && actor.id == c->owner_id))
      return unexpected(reject(RejectionKind::forbidden, "not_patient_owner",
                               "a client creates only their own patient record"));
    if (s.exists)
      return unexpected(reject(RejectionKind::conflict, "patient_exists",
                               "a patient with this id already exists"));
    return std::vector<Event>{PatientCreated{s.patient_id, c->owner_id, c->details}};
  }
  if (!s.exists || s.deleted)
    return unexpected(reject(RejectionKind::not_found, "patient_not_found", "no such patient"));
  const auto& id = s.patient_id;
  const auto& owner = s.owner_id;
  return std::visit(
      overloaded{
          [&](const Create&) -> Events { return std::vector<Event>{}; },
          [&](const Update& c) -> Events {
            if (!may_write(s, actor)) return unexpected(not_owner());
            if (c.changes == Details{}) return std::vector<Event>{};
            return std::vector<Event>{PatientUpdated{id, owner, c.changes}};
          },
          [&](const Delete&) -> Events {
            if (!may_write(s, actor)) return unexpected(not_owner());
            return std::vector<Event>{PatientDeleted{id, owner}};
          },
          [&](const AddTag& c) -> Events {
            if (!may_annotate(s, actor)) return unexpected(not_owner());
            const auto& tags = *s.details.tags;
            if (contains(tags, c.tag)) return std::vector<Event>{};  // already tagged
            if (tags.size() >= kMaxTags)
              return unexpected(
                  reject(RejectionKind::unprocessable, "too_many_tags",
                         "a patient has at most " + std::to_string(kMaxTags) + " tags"));
            return std::vector<Event>{TagAdded{id, owner, c.tag}};
          },
          [&](const RemoveTag& c) -> Events {
            if (!may_write(s, actor)) return unexpected(not_owner());
            if (!contains(*s.details.tags, c.tag)) return std::vector<Event>{};
            return std::vector<Event>{TagRemoved{id, owner, c.tag}};
          },
          [&](const AddSession& c) -> Events {
            if (!may_annotate(s, actor)) return unexpected(not_owner());
            const auto& sessions = *s.details.sessions;
            // Once per session: sealing gives the same details another ciphertext each time, so
            // the id (clear in every entry) is what says that the session is already on it.
            if (contains(sessions, c.session)) return std::vector<Event>{};
            if (auto sid = session_id_of(c.session); sid && names_session(sessions, *sid))
              return std::vector<Event>{};
            if (sessions.size() >= kMaxSessions)
              return unexpected(reject(
                  RejectionKind::unprocessable, "too_many_sessions",
                  "a patient record holds at most " + std::to_string(kMaxSessions) + " sessions"));
            return std::vector<Event>{SessionAdded{id, owner, c.session}};
          },
          [&](const UpdateWallet& c) -> Events {
            if (!may_write(s, actor)) return unexpected(not_owner());
            const int64_t balance = *s.details.wallet_balance_cents + c.amount_cents;
            if (balance < 0)
              return unexpected(reject(RejectionKind::unprocessable, "insufficient_balance",
                                       "the wallet holds " +
                                           format_cents(*s.details.wallet_balance_cents) +
                                           "; it cannot go below 0"));
            if (balance > kMaxWalletCents)
              return unexpected(
                  reject(RejectionKind::unprocessable, "wallet_limit_exceeded",
                         "the wallet balance may not exceed " + format_cents(kMaxWalletCents)));
            return std::vector<Event>{WalletUpdated{id, owner, c.amount_cents, balance}};
          },
      },
      command);
}

void evolve(State& s, const Event& event) {
  std::visit(overloaded{
                 [&](const PatientCreated& e) {
                   if (s.exists) return;  // redelivered
                   s.exists = true;
                   s.owner_id = e.owner_id;
                   s.details = e.details;
                 },
                 [&](const PatientUpdated& e) {
                   for (const auto& [k, v] : e.changes.text) s.details.text[k] = v;
                   if (e.changes.tags) s.details.tags = e.changes.tags;
                   if (e.changes.sessions) s.details.sessions = e.changes.sessions;
                   if (e.changes.wallet_balance_cents)
                     s.details.wallet_balance_cents = e.changes.wallet_balance_cents;
                 },
                 [&](const PatientDeleted&) { s.deleted = true; },
                 [&](const TagAdded& e) {
                   auto& tags = *s.details.tags;
                   if (!contains(tags, e.tag)) tags.push_back(e.tag);
                 },
                 [&](const TagRemoved& e) { std::erase(*s.details.tags, e.tag); },
                 [&](const SessionAdded& e) {
                   auto& sessions = *s.details.sessions;
                   if (!contains(sessions, e.session)) sessions.push_back(e.session);
                 },
                 [&](const WalletUpdated& e) { s.details.wallet_balance_cents = e.balance_cents; },
             },
             event);
}

NewEvent encode(const Event& event) {
  auto data = std::visit(overloaded{
                             [](const PatientCreated& e) {
                               auto doc = event_doc(e.patient_id, e.owner_id);
                               write_details(doc, e.details);
                               return json::canonical(doc);
                             },
                             [](const PatientUpdated& e) {
                               auto doc = event_doc(e.patient_id, e.owner_id);
                               write_details(doc, e.changes);
                               return json::canonical(doc);
                             },
                             [](const PatientDeleted& e) {
                               return json::canonical(event_doc(e.patient_id, e.owner_id));
                             },
                             [](const TagAdded& e) {
                               auto doc = event_doc(e.patient_id, e.owner_id);
                               add_string(doc, "tag", e.tag);
                               return json::canonical(doc);
                             },
                             [](const TagRemoved& e) {
                               auto doc = event_doc(e.patient_id, e.owner_id);
                               add_string(doc, "tag", e.tag);
                               return json::canonical(doc);
                             },
                             [](const SessionAdded& e) {
                               auto doc = event_doc(e.patient_id, e.owner_id);
                               auto parsed = json::parse(e.session, nullptr, 32);
                               if (parsed)
                                 doc.AddMember("session", json::Value(*parsed, doc.GetAllocator()),
                                               doc.GetAllocator());
                               return json::canonical(doc);
                             },
                             [](const WalletUpdated& e) {
                               auto doc = event_doc(e.patient_id, e.owner_id);
                               doc.AddMember("amount_cents", e.amount_cents, doc.GetAllocator());
                               doc.AddMember("balance_cents", e.balance_cents, doc.GetAllocator());
                               return json::canonical(doc);
                             },
                         },
                         event);
  const int version =
      std::visit([](const auto& e) { return version_of<std::decay_t<decltype(e)>>(); }, event);
  return NewEvent{std::string(event_type(event)), version, std::move(data)};
}

std::optional<Event> decode(std::string_view type, int version, const json::Value& d) {
  if (!d.IsObject()) return std::nullopt;
  // Every version up to the latest: v1 of patient.created, .updated and .session_added carried
  // the session entries in clear text, read back as logged; from v2 on they are sealed.
  const int latest = type == PatientCreated::type   ? version_of<PatientCreated>()
                     : type == PatientUpdated::type ? version_of<PatientUpdated>()
                     : type == SessionAdded::type   ? version_of<SessionAdded>()
                                                    : 1;
  if (version < 1 || version > latest) return std::nullopt;
  const EntryForm sessions_form = version >= 2 ? EntryForm::sealed : EntryForm::logged_clear;
  auto id = json::get_string(d, "patient_id");
  fields::Reader r{d, kInvalidEvent};
  auto owner = r.uuid("owner_id");
  if (!id || !valid_patient_id(*id) || !owner) return std::nullopt;
  std::string pid(*id);
  UserId oid{*owner};
  if (type == PatientCreated::type) {
    auto details = read_details(d, true, kInvalidEvent, sessions_form);
    if (!details) return std::nullopt;
    return PatientCreated{pid, oid, std::move(*details)};
  }
  if (type == PatientUpdated::type) {
    auto details = read_details(d, false, kInvalidEvent, sessions_form);
    if (!details) return std::nullopt;
    return PatientUpdated{pid, oid, std::move(*details)};
  }
  if (type == PatientDeleted::type) return PatientDeleted{pid, oid};
  if (type == TagAdded::type || type == TagRemoved::type) {
    auto tag = json::get_string(d, "tag");
    if (!tag) return std::nullopt;
    if (type == TagAdded::type) return TagAdded{pid, oid, std::string(*tag)};
    return TagRemoved{pid, oid, std::string(*tag)};
  }
  if (type == SessionAdded::type) {
    auto* v = member(d, "session");
    if (!v || !v->IsObject()) return std::nullopt;
    if (sessions_form == EntryForm::logged_clear)
      return SessionAdded{pid, oid, json::canonical(*v)};
    auto entry = read_sealed_session_entry(*v, "session");
    if (!entry) return std::nullopt;
    return SessionAdded{pid, oid, std::move(*entry)};
  }
  if (type == WalletUpdated::type) {
    auto amount = json::get_int(d, "amount_cents");
    auto balance = json::get_int(d, "balance_cents");
    if (!amount || !balance) return std::nullopt;
    return WalletUpdated{pid, oid, *amount, *balance};
  }
  return std::nullopt;
}

std::string format_cents(int64_t cents) {
  const bool negative = cents < 0;
  const uint64_t abs = negative ? 0 - static_cast<uint64_t>(cents) : static_cast<uint64_t>(cents);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%llu.%02llu", negative ? "-" : "",
                static_cast<unsigned long long>(abs / 100),
                static_cast<unsigned long long>(abs % 100));
  return buf;
}

std::string patient_view_json(const State& s) {
  if (!s.exists) return "null";
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  auto text = [&](const char* name) {
    auto it = s.details.text.find(name);
    json::write_string(w, it == s.details.text.end() ? "" : it->second);
  };
  w.StartObject();
  json::key(w, "deleted");
  w.Bool(s.deleted);
  json::key(w, "id");
  json::write_string(w, s.patient_id);
  json::key(w, "owner_id");
  json::write_string(w, s.owner_id.value().str());
  json::key(w, "profile_picture");
  text("profile_picture");
  json::key(w, "sessions");
  w.StartArray();
  for (auto& x : s.details.sessions.value_or(std::vector<std::string>{})) {
    // A sealed entry shows its id only: this view decrypts nothing and shows no ciphertext.
    auto doc = json::parse(x, nullptr, 32);
    auto details = doc ? json::get_string(*doc, "details") : std::nullopt;
    auto id = doc ? json::get_string(*doc, "session_id") : std::nullopt;
    if (details && id && details->starts_with(kEncryptedPrefix)) {
      const auto bare = sealed_session_entry(*id, "");
      w.RawValue(bare.data(), bare.size(), rapidjson::kObjectType);
    } else {
      w.RawValue(x.data(), x.size(), rapidjson::kObjectType);
    }
  }
  w.EndArray();
  json::key(w, "sex");
  text("sex");
  json::key(w, "tags");
  w.StartArray();
  for (auto& t : s.details.tags.value_or(std::vector<std::string>{})) json::write_string(w, t);
  w.EndArray();
  json::key(w, "wallet_balance");
  json::write_string(w, format_cents(s.details.wallet_balance_cents.value_or(0)));
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace counsel::patient
