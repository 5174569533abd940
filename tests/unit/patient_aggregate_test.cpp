// The patient aggregate (seed 003): every clear-text validation rule the api runs before it
// encrypts, and given events / when command / then events (or a rejection) for every action.
#include "domain/aggregates/patient.hpp"

#include <boost/test/unit_test.hpp>

#include "domain_test_support.hpp"

using namespace counsel;
using namespace counsel::patient;
using counsel::test::at;
using counsel::test::doc;
using counsel::test::user;

namespace {

const UserId kOwner = user(20);
const UserId kOtherClient = user(21);
const Timestamp kNow = at("2026-02-23T08:00:00Z");
const std::chrono::year_month_day kToday{std::chrono::year{2026}, std::chrono::month{2},
                                         std::chrono::day{23}};
const Actor kClient{kOwner, Role::client};
const Actor kStranger{kOtherClient, Role::client};
const Actor kCounselor{user(22), Role::counselor};
const Actor kAdmin{user(23), Role::admin};
const Actor kCompliance{user(24), Role::compliance};

// A valid clear-text request body; `patch` members replace or add to it (null removes).
std::string valid_body() {
  return R"({"id":"p_abc123","password":"s3cret-pass","first_name":"Naledi","last_name":"Khumalo",
    "phone_no":"+27821234567","allergies_and_medication":"Penicillin","date_of_birth":"1990-04-01",
    "sex":"F","ssn":"123-45-6789","email":"naledi@example.org","address":"1 Long St, Cape Town",
    "added_note":"Prefers mornings","about_note":"Teacher","profile_picture":"https://x.org/a.png",
    "tags":["new"],"wallet_balance":"12.50","sessions":["s-1",{"session_id":"s-2"}]})";
}

json::Document body_with(std::string_view field, std::string_view json_value) {
  auto d = doc(valid_body());
  auto& a = d.GetAllocator();
  d.RemoveMember(std::string(field).c_str());
  if (json_value != "absent") {
    auto v = doc(json_value);
    d.AddMember(json::Value(std::string(field).c_str(), a), json::Value(v, a), a);
  }
  return d;
}

Expected<Input, Rejection> validate(std::string_view field, std::string_view json_value,
                                    InputMode mode = InputMode::create) {
  return validate_input(body_with(field, json_value), mode, kToday);
}

void then_field_invalid(const Expected<Input, Rejection>& r, std::string_view field,
                        std::string_view why) {
  BOOST_REQUIRE_MESSAGE(!r.has_value(), why << ": expected a rejection naming " << field);
  BOOST_TEST(r.error().code == kValidationFailed, why);
  BOOST_TEST((r.error().kind == RejectionKind::invalid), why);
  BOOST_TEST(r.error().message.starts_with(std::string(field) + ": "),
             why << ": " << r.error().message);
}

void then_valid(const Expected<Input, Rejection>& r, std::string_view why) {
  BOOST_TEST(r.has_value(), why << ": " << (r ? "" : r.error().message));
}

// ---- commands as the api sends them (personal fields sealed) ----

// `overrides` is a JSON object text whose members replace the record's.
std::string create_json(std::string_view id = "p_abc123", const UserId& owner = kOwner,
                        std::string_view overrides = "{}") {
  auto d = doc(R"({"patient_id":")" + std::string(id) + R"(","owner_id":")" + owner.value().str() +
               R"(","first_name":"enc:v1:Zg==","last_name":"enc:v1:bA==",
      "phone_no":"enc:v1:cA==","email":"","ssn":"enc:v1:cw==","address":"",
      "allergies_and_medication":"enc:v1:YQ==","date_of_birth":"enc:v1:ZA==","added_note":"",
      "about_note":"","password_hash":"enc:v1:aA==","sex":"F","profile_picture":"",
      "tags":["new"],"sessions":[],"wallet_balance_cents":1000})");
  auto o = doc(overrides);
  auto& a = d.GetAllocator();
  for (auto it = o.MemberBegin(); it != o.MemberEnd(); ++it) {
    d.RemoveMember(it->name.GetString());
    d.AddMember(json::Value(it->name, a), json::Value(it->value, a), a);
  }
  return json::to_string(d);
}

Expected<std::vector<Event>, Rejection> when(const State& s, std::string_view type,
                                             std::string_view data, const Actor& actor) {
  auto d = doc(data);
  auto c = parse_command(type, d);
  if (!c) return unexpected(c.error());
  return decide(s, *c, actor, kNow);
}

void then_rejected(const Expected<std::vector<Event>, Rejection>& r, RejectionKind kind,
                   std::string_view code) {
  BOOST_REQUIRE_MESSAGE(!r.has_value(), "expected rejection " << code);
  BOOST_TEST(r.error().code == code, r.error().message);
  BOOST_TEST(to_string(r.error().kind) == to_string(kind));
}

// Applies the events and checks that each survives encode -> decode unchanged.
void apply_events(State& s, const Expected<std::vector<Event>, Rejection>& r) {
  BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().code + " " + r.error().message));
  for (const auto& e : *r) {
    auto encoded = encode(e);
    BOOST_TEST(encoded.type == std::string(event_type(e)));
    const bool sealed_sessions = std::holds_alternative<PatientCreated>(e) ||
                                 std::holds_alternative<PatientUpdated>(e) ||
                                 std::holds_alternative<SessionAdded>(e);
    BOOST_TEST(encoded.version == (sealed_sessions ? 2 : 1), encoded.type);
    auto data = doc(encoded.data_json);
    auto back = decode(encoded.type, encoded.version, data);
    BOOST_REQUIRE_MESSAGE(back.has_value(), "does not decode: " << encoded.data_json);
    BOOST_TEST((*back == e), encoded.data_json);
    evolve(s, e);
  }
}

State created(const Actor& by = kClient) {
  State s = initial_state("p_abc123");
  apply_events(s, when(s, "patient.create", create_json(), by));
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(patient_aggregate_test)

// ---- clear-text rules ----

BOOST_AUTO_TEST_CASE(a_complete_record_is_valid) {
  auto r = validate_input(doc(valid_body()), InputMode::create, kToday);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->id.value() == "p_abc123");
  const auto& t = r->details.text;
  BOOST_TEST(t.at("password") == "s3cret-pass");
  BOOST_TEST(t.at("phone_no") == "+27821234567");
  BOOST_TEST(t.at("sex") == "F");
  BOOST_TEST(r->details.wallet_balance_cents.value() == 1250);
  BOOST_TEST(r->details.tags.value() == std::vector<std::string>{"new"});
  BOOST_REQUIRE(r->details.sessions->size() == 2u);
  BOOST_TEST(r->details.sessions->at(0) == R"({"session_id":"s-1"})");
  BOOST_TEST(r->details.sessions->at(1) == R"({"session_id":"s-2"})");
}

BOOST_AUTO_TEST_CASE(optional_fields_default_on_create) {
  auto d = doc(R"({"password":"12345678","first_name":"A","last_name":"B","phone_no":"123456789",
    "allergies_and_medication":"none","date_of_birth":"2000-01-01","sex":"M"})");
  auto r = validate_input(d, InputMode::create, kToday);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(!r->id.has_value());
  for (auto f : {"email", "ssn", "address", "added_note", "about_note", "profile_picture"})
    BOOST_TEST(r->details.text.at(f).empty(), f);
  BOOST_TEST(r->details.tags->empty());
  BOOST_TEST(r->details.sessions->empty());
  BOOST_TEST(r->details.wallet_balance_cents.value() == 0);
}

BOOST_AUTO_TEST_CASE(id_is_p_and_six_lowercase_alphanumerics) {
  for (auto ok : {R"("p_abc123")", R"("p_123abc")", R"("p_abcdef")", R"("p_000000")", "null"})
    then_valid(validate("id", ok), ok);
  for (auto bad :
       {R"("p_abc12")", R"("p_abc1234")", R"("p_ABC123")", R"("P_abc123")", R"("q_abc123")",
        R"("pabc123")", R"("p-abc123")", R"("p_abc 12")", R"("p_abç123")", "123", R"("")"})
    then_field_invalid(validate("id", bad), "id", bad);
  BOOST_TEST(valid_patient_id("p_a1b2c3"));
  BOOST_TEST(!valid_patient_id("p_a1b2c"));
}

BOOST_AUTO_TEST_CASE(password_is_8_to_64_characters) {
  then_valid(validate("password", R"("12345678")"), "8");
  then_valid(validate("password", "\"" + std::string(64, 'x') + "\""), "64");
  then_valid(validate("password", R"("ääääääää")"), "8 code points");
  then_field_invalid(validate("password", R"("1234567")"), "password", "7");
  then_field_invalid(validate("password", "\"" + std::string(65, 'x') + "\""), "password", "65");
  then_field_invalid(validate("password", "absent"), "password", "missing");
  then_field_invalid(validate("password", "12345678"), "password", "a number");
}

BOOST_AUTO_TEST_CASE(names_are_required) {
  for (auto f : {"first_name", "last_name"}) {
    then_field_invalid(validate(f, "absent"), f, "missing");
    then_field_invalid(validate(f, R"("")"), f, "empty");
    then_field_invalid(validate(f, R"("   ")"), f, "blank");
    then_field_invalid(validate(f, "\"" + std::string(101, 'n') + "\""), f, "too long");
    then_field_invalid(validate(f, "[]"), f, "not a string");
    then_valid(validate(f, "\"" + std::string(100, 'n') + "\""), f);
  }
}

BOOST_AUTO_TEST_CASE(phone_is_9_to_15_digits_with_an_optional_plus) {
  for (auto ok : {R"("123456789")", R"("123456789012345")", R"("+27821234567")", R"("+123456789")"})
    then_valid(validate("phone_no", ok), ok);
  for (auto bad : {R"("12345678")", R"("1234567890123456")", R"("+12345678")", R"("082 123 4567")",
                   R"("082-123-4567")", R"("++27821234567")", R"("27821234567+")", R"("phone")",
                   R"("")", "absent", "821234567"})
    then_field_invalid(validate("phone_no", bad), "phone_no", bad);
  BOOST_TEST(phone_digits("+27821234567") == "27821234567");
}

BOOST_AUTO_TEST_CASE(allergies_and_medication_is_required_text) {
  then_field_invalid(validate("allergies_and_medication", "absent"), "allergies_and_medication",
                     "missing");
  then_field_invalid(validate("allergies_and_medication", R"("")"), "allergies_and_medication",
                     "empty");
  then_valid(validate("allergies_and_medication", R"("None known")"), "text");
}

BOOST_AUTO_TEST_CASE(date_of_birth_is_a_past_date) {
  then_valid(validate("date_of_birth", R"("2026-02-23")"), "today");
  then_valid(validate("date_of_birth", R"("1950-12-31")"), "long ago");
  for (auto bad : {R"("2026-02-24")", R"("2030-01-01")", R"("1990-02-30")", R"("01/04/1990")",
                   R"("1990-4-1")", R"("1899-12-31")", R"("")", "absent", "19900401"})
    then_field_invalid(validate("date_of_birth", bad), "date_of_birth", bad);
}

BOOST_AUTO_TEST_CASE(sex_is_one_of_m_f_o_p) {
  for (auto ok : {R"("M")", R"("F")", R"("O")", R"("P")"}) then_valid(validate("sex", ok), ok);
  for (auto bad : {R"("m")", R"("X")", R"("Male")", R"("")", "absent", "1"})
    then_field_invalid(validate("sex", bad), "sex", bad);
}

BOOST_AUTO_TEST_CASE(ssn_follows_xxx_xx_xxxx) {
  for (auto ok : {R"("000-00-0000")", R"("987-65-4321")", R"("")", "absent", "null"})
    then_valid(validate("ssn", ok), ok);
  for (auto bad : {R"("123456789")", R"("123-456-789")", R"("12a-45-6789")", R"("123-45-67890")",
                   R"(" 123-45-678")", "123"})
    then_field_invalid(validate("ssn", bad), "ssn", bad);
}

BOOST_AUTO_TEST_CASE(email_when_given_is_an_address) {
  then_valid(validate("email", R"("")"), "empty");
  then_valid(validate("email", "absent"), "absent");
  for (auto bad :
       {R"("not-an-email")", R"("a@b")", R"("a@@b.org")", R"("@b.org")", R"("a b@c.org")"})
    then_field_invalid(validate("email", bad), "email", bad);
}

BOOST_AUTO_TEST_CASE(note_lengths) {
  then_valid(validate("added_note", "\"" + std::string(500, 'a') + "\""), "500");
  then_field_invalid(validate("added_note", "\"" + std::string(501, 'a') + "\""), "added_note",
                     "501");
  then_valid(validate("about_note", "\"" + std::string(250, 'a') + "\""), "250");
  then_field_invalid(validate("about_note", "\"" + std::string(251, 'a') + "\""), "about_note",
                     "251");
  then_field_invalid(validate("address", "\"" + std::string(501, 'a') + "\""), "address", "501");
}

BOOST_AUTO_TEST_CASE(profile_picture_is_an_http_url) {
  then_valid(validate("profile_picture", R"("http://example.org/me.jpg")"), "http");
  then_valid(validate("profile_picture", "\"https://x.org/" + std::string(2034, 'a') + "\""),
             "2048");
  for (auto bad : {R"x("javascript:alert(1)")x", R"("me.jpg")", R"("https://a b.org")", "{}"})
    then_field_invalid(validate("profile_picture", bad), "profile_picture", bad);
  then_field_invalid(
      validate("profile_picture", "\"https://x.org/" + std::string(2035, 'a') + "\""),
      "profile_picture", "2049");
}

BOOST_AUTO_TEST_CASE(tags_are_a_json_array_of_strings) {
  auto r = validate("tags", R"([" anxiety ","new","anxiety"])");
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->details.tags.value() == (std::vector<std::string>{"anxiety", "new"}));
  for (auto bad : {R"("anxiety")", R"([1])", R"([""])", R"({})"})
    then_field_invalid(validate("tags", bad), "tags", bad);
  std::string many = "[";
  for (int i = 0; i <= 50; ++i) many += (i ? ",\"t" : "\"t") + std::to_string(i) + "\"";
  then_field_invalid(validate("tags", many + "]"), "tags", "51 tags");
}

BOOST_AUTO_TEST_CASE(sessions_are_a_json_array) {
  then_valid(validate("sessions", "[]"), "empty");
  then_valid(validate("sessions", R"([{"id":"x","date":"2026-01-01"}])"), "objects");
  for (auto bad : {R"("s-1")", R"([1])", R"([{}])", R"([""])", "{}"})
    then_field_invalid(validate("sessions", bad), "sessions", bad);
}

BOOST_AUTO_TEST_CASE(wallet_balance_is_a_decimal_with_two_places) {
  for (auto [text, cents] :
       std::vector<std::pair<const char*, int64_t>>{{R"("12.50")", 1250},
                                                    {"12.5", 1250},
                                                    {"12.34", 1234},
                                                    {"7", 700},
                                                    {R"("0")", 0},
                                                    {R"("0.01")", 1},
                                                    {"0.07", 7},
                                                    {R"("9999999999.99")", 999'999'999'999}}) {
    auto r = validate("wallet_balance", text);
    BOOST_REQUIRE_MESSAGE(r.has_value(), text);
    BOOST_TEST(r->details.wallet_balance_cents.value() == cents, text);
  }
  for (auto bad : {R"("12.345")", "12.345", R"("1,5")", R"("abc")", R"("")", R"(".5")", R"("5.")",
                   "-1", R"("-0.01")", R"("10000000000.00")", "1e300", "true"})
    then_field_invalid(validate("wallet_balance", bad), "wallet_balance", bad);
}

BOOST_AUTO_TEST_CASE(money_amounts_may_be_negative_deltas) {
  auto amount = [](std::string_view text) {
    return parse_money(doc(std::string(R"({"a":)") + std::string(text) + "}")["a"], "amount",
                       kMaxWalletCents);
  };
  BOOST_TEST(amount("-5.25").value() == -525);
  BOOST_TEST(amount(R"("-5.25")").value() == -525);
  BOOST_TEST(amount(R"("+3")").value() == 300);
  BOOST_TEST(!amount("0.001").has_value());
  BOOST_TEST(amount("0.001").error().message.starts_with("amount: "));
  BOOST_TEST(format_cents(-525) == "-5.25");
  BOOST_TEST(format_cents(7) == "0.07");
}

BOOST_AUTO_TEST_CASE(put_needs_every_required_field_patch_only_those_given) {
  auto patch = validate_input(doc(R"({"about_note":"Runner"})"), InputMode::partial, kToday);
  BOOST_REQUIRE(patch.has_value());
  BOOST_TEST(patch->details.text.size() == 1u);
  BOOST_TEST(!patch->details.tags.has_value());
  BOOST_TEST(!patch->details.wallet_balance_cents.has_value());
  then_field_invalid(validate_input(doc(R"({"phone_no":"12"})"), InputMode::partial, kToday),
                     "phone_no", "patch still checks what it gets");
  then_field_invalid(validate_input(doc(R"({"first_name":""})"), InputMode::partial, kToday),
                     "first_name", "patch may not blank a required field");
  then_field_invalid(validate("last_name", "absent", InputMode::replace), "last_name", "put");
  auto put = validate("email", "absent", InputMode::replace);
  BOOST_REQUIRE(put.has_value());
  BOOST_TEST(!put->details.text.contains("email"), "an absent optional field stays as it is");
  BOOST_TEST(!put->id.has_value(), "the id is not changed by an update");
}

BOOST_AUTO_TEST_CASE(action_bodies) {
  BOOST_TEST(parse_tag_body(doc(R"({"tag":" vip "})")).value() == "vip");
  for (auto bad : {R"({})", R"({"tag":""})", R"({"tag":5})"}) {
    auto r = parse_tag_body(doc(bad));
    BOOST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().message.starts_with("tag: "), bad);
  }
  BOOST_TEST(parse_tag_body(doc("{\"tag\":\"" + std::string(65, 't') + "\"}")).error().code ==
             kValidationFailed);
  BOOST_TEST(parse_session_body(doc(R"({"session_id":"abc"})")).value() ==
             R"({"session_id":"abc"})");
  BOOST_TEST(parse_session_body(doc(R"({"session":{"b":1,"a":2}})")).value() == R"({"a":2,"b":1})");
  BOOST_TEST(parse_session_body(doc(R"({})")).error().message.starts_with("session_id: "));
  BOOST_TEST(parse_session_body(doc(R"({"session":[]})")).error().message.starts_with("session: "));
}

// ---- decide / evolve ----

BOOST_AUTO_TEST_CASE(a_client_creates_their_own_record) {
  State s = initial_state("p_abc123");
  auto r = when(s, "patient.create", create_json(), kClient);
  BOOST_REQUIRE(r.has_value());
  BOOST_REQUIRE(r->size() == 1u);
  const auto& e = std::get<PatientCreated>(r->front());
  BOOST_TEST(e.patient_id == "p_abc123");
  BOOST_TEST((e.owner_id == kOwner));
  BOOST_TEST(e.details.text.at("phone_no") == "enc:v1:cA==");
  BOOST_TEST(e.details.wallet_balance_cents.value() == 1000);
  apply_events(s, r);
  BOOST_TEST(s.exists);
  auto view = doc(patient_view_json(s));
  BOOST_TEST(json::get_string(view, "id").value() == "p_abc123");
  BOOST_TEST(json::get_string(view, "wallet_balance").value() == "10.00");
  BOOST_TEST(patient_view_json(s).find("enc:v1:") == std::string::npos,
             "the command result shows no ciphertext");
}

BOOST_AUTO_TEST_CASE(only_the_owner_or_an_admin_creates) {
  State s = initial_state("p_abc123");
  then_rejected(when(s, "patient.create", create_json(), kStranger), RejectionKind::forbidden,
                "not_patient_owner");
  then_rejected(when(s, "patient.create", create_json(), kCounselor), RejectionKind::forbidden,
                "not_patient_owner");
  then_rejected(when(s, "patient.create", create_json(), kCompliance), RejectionKind::forbidden,
                "not_patient_owner");
  BOOST_TEST(when(s, "patient.create", create_json(), kAdmin).has_value());
}

BOOST_AUTO_TEST_CASE(create_checks_the_stream_and_the_sealed_fields) {
  then_rejected(when(initial_state("p_zzz999"), "patient.create", create_json(), kClient),
                RejectionKind::invalid, "stream_mismatch");
  then_rejected(when(initial_state("bogus"), "patient.create", create_json(), kClient),
                RejectionKind::invalid, "invalid_stream");
  State s = initial_state("p_abc123");
  // Personal fields must arrive sealed: a clear-text phone or SSN never reaches an event.
  auto plain_phone =
      when(s, "patient.create", create_json("p_abc123", kOwner, R"({"phone_no":"+27821234567"})"),
           kClient);
  then_rejected(plain_phone, RejectionKind::invalid, kValidationFailed);
  BOOST_TEST(plain_phone.error().message.starts_with("phone_no: "));
  auto plain_ssn = when(s, "patient.create",
                        create_json("p_abc123", kOwner, R"({"ssn":"123-45-6789"})"), kClient);
  BOOST_TEST(plain_ssn.error().message.starts_with("ssn: "));
  then_rejected(
      when(s, "patient.create", create_json("p_abc123", kOwner, R"({"sex":"Z"})"), kClient),
      RejectionKind::invalid, kValidationFailed);
  then_rejected(
      when(s, "patient.create", create_json("p_abc123", kOwner, R"({"first_name":""})"), kClient),
      RejectionKind::invalid, kValidationFailed);
  then_rejected(when(s, "patient.create",
                     create_json("p_abc123", kOwner, R"({"wallet_balance_cents":-1})"), kClient),
                RejectionKind::invalid, kValidationFailed);
  then_rejected(when(s, "patient.create", create_json("P_ABC123"), kClient), RejectionKind::invalid,
                kValidationFailed);
}

BOOST_AUTO_TEST_CASE(creating_twice_conflicts) {
  State s = created();
  then_rejected(when(s, "patient.create", create_json(), kClient), RejectionKind::conflict,
                "patient_exists");
}

BOOST_AUTO_TEST_CASE(commands_on_a_missing_record_are_not_found) {
  State s = initial_state("p_abc123");
  for (auto [type, data] : std::vector<std::pair<const char*, const char*>>{
           {"patient.update", R"({"sex":"M"})"},
           {"patient.delete", "{}"},
           {"patient.add_tag", R"({"tag":"x"})"},
           {"patient.remove_tag", R"({"tag":"x"})"},
           {"patient.add_session", R"({"session":{"session_id":"x"}})"},
           {"patient.update_wallet", R"({"amount_cents":100})"}})
    then_rejected(when(s, type, data, kAdmin), RejectionKind::not_found, "patient_not_found");
}

BOOST_AUTO_TEST_CASE(update_changes_only_the_given_fields) {
  State s = created();
  auto r = when(s, "patient.update",
                R"({"first_name":"enc:v1:Tg==","email":"enc:v1:ZQ==","sex":"P","tags":["a"],
                    "wallet_balance_cents":1})",
                kClient);
  BOOST_REQUIRE(r.has_value());
  const auto& e = std::get<PatientUpdated>(r->front());
  BOOST_TEST(e.changes.text.size() == 3u);
  BOOST_TEST(!e.changes.sessions.has_value());
  apply_events(s, r);
  BOOST_TEST(s.details.text.at("first_name") == "enc:v1:Tg==");
  BOOST_TEST(s.details.text.at("last_name") == "enc:v1:bA==");
  BOOST_TEST(s.details.text.at("sex") == "P");
  BOOST_TEST(s.details.tags.value() == std::vector<std::string>{"a"});
  BOOST_TEST(s.details.wallet_balance_cents.value() == 1);
  // An empty update is accepted and changes nothing.
  auto none = when(s, "patient.update", "{}", kClient);
  BOOST_REQUIRE(none.has_value());
  BOOST_TEST(none->empty());
  then_rejected(when(s, "patient.update", R"({"phone_no":"0821234567"})", kClient),
                RejectionKind::invalid, kValidationFailed);
}

BOOST_AUTO_TEST_CASE(only_the_owner_or_an_admin_updates_deletes_removes_tags_and_pays) {
  State s = created();
  for (const auto& actor : {kStranger, kCounselor, kCompliance}) {
    then_rejected(when(s, "patient.update", R"({"sex":"M"})", actor), RejectionKind::forbidden,
                  "not_patient_owner");
    then_rejected(when(s, "patient.delete", "{}", actor), RejectionKind::forbidden,
                  "not_patient_owner");
    then_rejected(when(s, "patient.remove_tag", R"({"tag":"new"})", actor),
                  RejectionKind::forbidden, "not_patient_owner");
    then_rejected(when(s, "patient.update_wallet", R"({"amount_cents":5})", actor),
                  RejectionKind::forbidden, "not_patient_owner");
  }
  BOOST_TEST(when(s, "patient.update", R"({"sex":"M"})", kAdmin).has_value());
}

BOOST_AUTO_TEST_CASE(delete_ends_the_record_and_its_id) {
  State s = created();
  auto r = when(s, "patient.delete", "{}", kClient);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST((std::get<PatientDeleted>(r->front()).owner_id == kOwner));
  apply_events(s, r);
  BOOST_TEST(s.deleted);
  then_rejected(when(s, "patient.update", R"({"sex":"M"})", kClient), RejectionKind::not_found,
                "patient_not_found");
  then_rejected(when(s, "patient.delete", "{}", kClient), RejectionKind::not_found,
                "patient_not_found");
  then_rejected(when(s, "patient.create", create_json(), kClient), RejectionKind::conflict,
                "patient_exists");
}

BOOST_AUTO_TEST_CASE(tags_are_added_by_owner_admin_or_counsellor_once) {
  State s = created();
  auto r = when(s, "patient.add_tag", R"({"tag":" anxiety "})", kCounselor);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(std::get<TagAdded>(r->front()).tag == "anxiety");
  apply_events(s, r);
  BOOST_TEST(s.details.tags.value() == (std::vector<std::string>{"new", "anxiety"}));
  auto again = when(s, "patient.add_tag", R"({"tag":"anxiety"})", kClient);
  BOOST_REQUIRE(again.has_value());
  BOOST_TEST(again->empty(), "adding a tag twice changes nothing");
  then_rejected(when(s, "patient.add_tag", R"({"tag":"x"})", kStranger), RejectionKind::forbidden,
                "not_patient_owner");
  then_rejected(when(s, "patient.add_tag", R"({"tag":""})", kClient), RejectionKind::invalid,
                kValidationFailed);
  for (int i = 0; s.details.tags->size() < kMaxTags; ++i)
    apply_events(s, when(s, "patient.add_tag", "{\"tag\":\"t" + std::to_string(i) + "\"}", kAdmin));
  then_rejected(when(s, "patient.add_tag", R"({"tag":"one-more"})", kClient),
                RejectionKind::unprocessable, "too_many_tags");
}

BOOST_AUTO_TEST_CASE(tags_are_removed_by_owner_or_admin) {
  State s = created();
  auto r = when(s, "patient.remove_tag", R"({"tag":"new"})", kClient);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(std::get<TagRemoved>(r->front()).tag == "new");
  apply_events(s, r);
  BOOST_TEST(s.details.tags->empty());
  auto absent = when(s, "patient.remove_tag", R"({"tag":"new"})", kAdmin);
  BOOST_REQUIRE(absent.has_value());
  BOOST_TEST(absent->empty(), "removing an absent tag changes nothing");
}

BOOST_AUTO_TEST_CASE(sessions_are_appended_once) {
  State s = created();
  auto r = when(s, "patient.add_session",
                R"({"session":{"session_id":"s-9","details":"enc:v1:ZGF0ZQ=="}})", kCounselor);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(std::get<SessionAdded>(r->front()).session ==
             R"({"details":"enc:v1:ZGF0ZQ==","session_id":"s-9"})");
  apply_events(s, r);
  BOOST_TEST(s.details.sessions->size() == 1u);
  auto again = when(s, "patient.add_session",
                    R"({"session":{"session_id":"s-9","details":"enc:v1:ZGF0ZQ=="}})", kClient);
  BOOST_REQUIRE(again.has_value());
  BOOST_TEST(again->empty());
  // The same session sealed again (another nonce, another ciphertext) or by its id alone.
  for (auto same : {R"({"session":{"session_id":"s-9","details":"enc:v1:b3RoZXI="}})",
                    R"({"session":{"session_id":"s-9"}})"}) {
    auto resealed = when(s, "patient.add_session", same, kClient);
    BOOST_REQUIRE(resealed.has_value());
    BOOST_TEST(resealed->empty(), same);
  }
  then_rejected(when(s, "patient.add_session", R"({"session":{}})", kClient),
                RejectionKind::invalid, kValidationFailed);
  then_rejected(when(s, "patient.add_session", R"({"session":{"session_id":"x"}})", kStranger),
                RejectionKind::forbidden, "not_patient_owner");
}

BOOST_AUTO_TEST_CASE(the_wallet_moves_by_deltas_and_never_below_zero) {
  State s = created();  // 10.00
  auto up = when(s, "patient.update_wallet", R"({"amount_cents":250})", kClient);
  BOOST_REQUIRE(up.has_value());
  BOOST_TEST(std::get<WalletUpdated>(up->front()).balance_cents == 1250);
  apply_events(s, up);
  auto down = when(s, "patient.update_wallet", R"({"amount_cents":-1250})", kAdmin);
  BOOST_REQUIRE(down.has_value());
  BOOST_TEST(std::get<WalletUpdated>(down->front()).amount_cents == -1250);
  apply_events(s, down);
  BOOST_TEST(s.details.wallet_balance_cents.value() == 0);
  then_rejected(when(s, "patient.update_wallet", R"({"amount_cents":-1})", kClient),
                RejectionKind::unprocessable, "insufficient_balance");
  apply_events(s, when(s, "patient.update_wallet",
                       "{\"amount_cents\":" + std::to_string(kMaxWalletCents) + "}", kClient));
  then_rejected(when(s, "patient.update_wallet", R"({"amount_cents":1})", kClient),
                RejectionKind::unprocessable, "wallet_limit_exceeded");
  then_rejected(when(s, "patient.update_wallet", R"({"amount_cents":1.5})", kClient),
                RejectionKind::invalid, kValidationFailed);
}

BOOST_AUTO_TEST_CASE(redelivered_events_change_nothing) {
  State s = created();
  auto tag = when(s, "patient.add_tag", R"({"tag":"x"})", kClient);
  apply_events(s, tag);
  evolve(s, tag->front());
  BOOST_TEST(s.details.tags->size() == 2u);
  evolve(s, PatientCreated{"p_abc123", kOtherClient, Details{}});
  BOOST_TEST((s.owner_id == kOwner));
  BOOST_TEST(!decode("patient.created", 3, doc(create_json())).has_value());
  BOOST_TEST(!decode("patient.created", 0, doc(create_json())).has_value());
  BOOST_TEST(!decode("patient.tag_added", 2,
                     doc(R"({"patient_id":"p_abc123","owner_id":")" + kOwner.value().str() +
                         R"(","tag":"x"})"))
                  .has_value());
  BOOST_TEST(!decode("patient.unknown", 1, doc(create_json())).has_value());
}

// ---- session entries: clear in requests, sealed in commands and events since v2 ----

BOOST_AUTO_TEST_CASE(session_entries_split_for_sealing_and_join_back) {
  auto parts = split_session_entry(R"({"date":"2026-03-01","notes":"x","session_id":"s-1"})");
  BOOST_REQUIRE(parts.has_value());
  BOOST_TEST(parts->session_id == "s-1");
  BOOST_TEST(parts->others == R"({"date":"2026-03-01","notes":"x"})");
  BOOST_TEST(joined_session_entry(parts->session_id, parts->others).value() ==
             R"({"date":"2026-03-01","notes":"x","session_id":"s-1"})");
  auto bare = split_session_entry(R"({"session_id":"s-2"})");
  BOOST_REQUIRE(bare.has_value());
  BOOST_TEST(bare->others.empty(), "nothing to seal");
  BOOST_TEST(sealed_session_entry("s-2", "") == R"({"session_id":"s-2"})");
  BOOST_TEST(sealed_session_entry("s-1", "enc:v1:eA==") ==
             R"({"details":"enc:v1:eA==","session_id":"s-1"})");
  BOOST_TEST(!split_session_entry(R"({"date":"2026-03-01"})").has_value());
  BOOST_TEST(!split_session_entry(R"({"session_id":5})").has_value());
  BOOST_TEST(!joined_session_entry("s-1", "[1]").has_value());
  BOOST_TEST(!joined_session_entry("s-1", "not json").has_value());
}

BOOST_AUTO_TEST_CASE(commands_refuse_session_entries_in_clear_text) {
  const std::string too_long = R"({"session":{"session_id":"s-1","details":"enc:v1:)" +
                               std::string(kMaxSealedSessionDetailsChars, 'A') + "\"}}";
  State s = created();
  for (const std::string& entry :
       {std::string(R"({"session_id":"s-1","notes":"client disclosed"})"),
        std::string(R"({"session_id":"s-1","details":"client disclosed"})"),
        std::string(R"({"session_id":"s-1","details":"enc:v1:"})"),
        std::string(R"({"session_id":"s-1","details":""})"),
        std::string(R"({"session_id":"s-1","details":null})"),
        std::string(R"({"session_id":"s-1","details":{"notes":"x"}})"),
        std::string(R"({"session_id":"","details":"enc:v1:eA=="})"),
        std::string(R"({"session_id":7})"), std::string(R"({"notes":"x"})")}) {
    auto added = when(s, "patient.add_session", R"({"session":)" + entry + "}", kClient);
    then_rejected(added, RejectionKind::invalid, kValidationFailed);
    BOOST_TEST(added.error().message.starts_with("session: "), entry);
    auto updated = when(s, "patient.update", R"({"sessions":[)" + entry + "]}", kClient);
    then_rejected(updated, RejectionKind::invalid, kValidationFailed);
    BOOST_TEST(updated.error().message.starts_with("sessions: "), entry);
    auto fresh = initial_state("p_abc123");
    then_rejected(when(fresh, "patient.create",
                       create_json("p_abc123", kOwner, R"({"sessions":[)" + entry + "]}"), kClient),
                  RejectionKind::invalid, kValidationFailed);
  }
  then_rejected(when(s, "patient.add_session", too_long, kClient), RejectionKind::invalid,
                kValidationFailed);
}

BOOST_AUTO_TEST_CASE(sealed_sessions_are_written_at_v2_and_read_back) {
  State s = initial_state("p_abc123");
  const std::string sessions =
      R"({"sessions":[{"session_id":"s-1"},{"details":"enc:v1:bm90ZXM=","session_id":"s-2"}]})";
  auto r = when(s, "patient.create", create_json("p_abc123", kOwner, sessions), kClient);
  BOOST_REQUIRE(r.has_value());
  const auto& e = std::get<PatientCreated>(r->front());
  BOOST_TEST(e.details.sessions.value() ==
             (std::vector<std::string>{R"({"session_id":"s-1"})",
                                       R"({"details":"enc:v1:bm90ZXM=","session_id":"s-2"})"}));
  auto encoded = encode(r->front());
  BOOST_TEST(encoded.version == 2);
  BOOST_TEST(encoded.data_json.find(R"("sessions":[{"session_id":"s-1"},{"details":)") !=
             std::string::npos);
  apply_events(s, r);  // encode -> decode round trip at v2
  auto update = when(s, "patient.update",
                     R"({"sessions":[{"session_id":"s-3","details":"enc:v1:eA=="}]})", kAdmin);
  apply_events(s, update);
  BOOST_TEST(s.details.sessions->size() == 1u);
  // What the command response shows decrypts nothing: ids only, never ciphertext.
  auto view = patient_view_json(s);
  BOOST_TEST(view.find("enc:v1:") == std::string::npos, view);
  BOOST_TEST(json::canonical(doc(view)["sessions"]) == R"([{"session_id":"s-3"}])");
  // At v2 a clear entry is malformed: the aggregate never reads clear text from a v2 event.
  auto clear = doc(encode(r->front()).data_json);
  clear["sessions"][1].RemoveMember("details");
  clear["sessions"][1].AddMember("notes", "client disclosed", clear.GetAllocator());
  BOOST_TEST(!decode("patient.created", 2, clear).has_value());
  auto added = doc(R"({"patient_id":"p_abc123","owner_id":")" + kOwner.value().str() +
                   R"(","session":{"session_id":"s-4","notes":"client disclosed"}})");
  BOOST_TEST(!decode("patient.session_added", 2, added).has_value());
  auto changed = doc(R"({"patient_id":"p_abc123","owner_id":")" + kOwner.value().str() +
                     R"(","sessions":[{"session_id":"s-4","details":"client disclosed"}]})");
  BOOST_TEST(!decode("patient.updated", 2, changed).has_value());
}

// v1 events (still in the log) carried the session entries in clear text: read as logged.
BOOST_AUTO_TEST_CASE(v1_events_with_clear_sessions_still_decode) {
  const std::string ids = R"({"patient_id":"p_abc123","owner_id":")" + kOwner.value().str() + "\"";
  auto v1_created = doc(create_json(
      "p_abc123", kOwner, R"({"sessions":[{"session_id":"s-1","notes":"client disclosed"}]})"));
  auto created_event = decode("patient.created", 1, v1_created);
  BOOST_REQUIRE(created_event.has_value());
  BOOST_TEST(std::get<PatientCreated>(*created_event).details.sessions.value() ==
             std::vector<std::string>{R"({"notes":"client disclosed","session_id":"s-1"})"});
  auto added = decode("patient.session_added", 1,
                      doc(ids + R"(,"session":{"date":"2026-03-01","session_id":"s-2"}})"));
  BOOST_REQUIRE(added.has_value());
  BOOST_TEST(std::get<SessionAdded>(*added).session ==
             R"({"date":"2026-03-01","session_id":"s-2"})");
  auto updated = decode("patient.updated", 1, doc(ids + R"(,"sessions":[{"legacy":true}]})"));
  BOOST_REQUIRE(updated.has_value());
  BOOST_TEST(std::get<PatientUpdated>(*updated).changes.sessions.value() ==
             std::vector<std::string>{R"({"legacy":true})"});
  // Replayed, they make the state the v1 log describes; a v2 command then dedupes by id.
  State s = initial_state("p_abc123");
  evolve(s, *created_event);
  evolve(s, *added);
  BOOST_TEST(s.details.sessions->size() == 2u);
  auto again = when(s, "patient.add_session",
                    R"({"session":{"session_id":"s-2","details":"enc:v1:eA=="}})", kClient);
  BOOST_REQUIRE(again.has_value());
  BOOST_TEST(again->empty(), "s-2 is already on the record");
}

BOOST_AUTO_TEST_SUITE_END()
