// Given events / when command / then events (or a rejection) for the account aggregate.
#include "domain/aggregates/account.hpp"

#include <boost/test/unit_test.hpp>

#include "domain_test_support.hpp"

using namespace counsel;
using namespace counsel::account;
using counsel::test::at;
using counsel::test::doc;
using counsel::test::user;

namespace {

const UserId kUser = user(10);
const Timestamp kNow = at("2026-02-23T08:00:00Z");
const std::string kEmailHash(64, 'a');

std::string register_json(std::string_view role, std::string_view user_id = "") {
  std::string id = user_id.empty() ? kUser.value().str() : std::string(user_id);
  return R"({"user_id":")" + id + R"(","role":")" + std::string(role) +
         R"(","email":"enc:v1:ZW1haWw=","email_hash":")" + kEmailHash +
         R"(","display_name":"enc:v1:bmFtZQ==","password_hash":"enc:v1:aGFzaA=="})";
}

Expected<std::vector<Event>, Rejection> when_json(const State& s, std::string_view data,
                                                  const Actor& actor) {
  auto d = doc(data);
  auto c = parse_command("account.register", d);
  if (!c) return unexpected(c.error());
  return decide(s, *c, actor, kNow);
}

void then_rejected(const Expected<std::vector<Event>, Rejection>& r, RejectionKind kind,
                   std::string_view code) {
  BOOST_REQUIRE_MESSAGE(!r.has_value(), "expected rejection " << code);
  BOOST_TEST(r.error().code == code);
  BOOST_TEST(to_string(r.error().kind) == to_string(kind));
}

const Actor kAnonymous{kUser, Role::client};
const Actor kSystem{UserId{}, Role::system};

}  // namespace

BOOST_AUTO_TEST_SUITE(account_aggregate_test)

BOOST_AUTO_TEST_CASE(registers_a_client_and_a_counselor) {
  for (auto role : {"client", "counselor"}) {
    State s = initial_state(kUser);
    auto r = when_json(s, register_json(role), kAnonymous);
    BOOST_REQUIRE(r.has_value());
    BOOST_REQUIRE(r->size() == 1u);
    auto& e = std::get<AccountRegistered>(r->front());
    BOOST_TEST((e.user_id == kUser));
    BOOST_TEST(to_string(e.role) == role);
    BOOST_TEST(e.email == "enc:v1:ZW1haWw=");
    BOOST_TEST(e.email_hash == kEmailHash);
    BOOST_TEST(e.display_name == "enc:v1:bmFtZQ==");
    BOOST_TEST(e.password_hash == "enc:v1:aGFzaA==");
    evolve(s, e);
    BOOST_TEST(s.registered);
    BOOST_TEST(account_view_json(s) ==
               R"({"anonymous":false,"email_hash":")" + kEmailHash +
                   R"(","erased":false,"erasure_pending":false,"id":")" + kUser.value().str() +
                   R"(","role":")" + role +
                   R"(","suspended":false,"two_factor_enabled":false,"verified":false})");
  }
}

BOOST_AUTO_TEST_CASE(an_email_hash_is_kept_as_its_bytes_and_written_back_as_given) {
  const std::string hex = "00ff10a9" + std::string(56, 'e');
  auto d = Sha256Digest::from_hex(hex);
  BOOST_REQUIRE(d.has_value());
  BOOST_TEST(d->hex() == hex);
  BOOST_TEST(!d->empty());
  BOOST_TEST((*d == *Sha256Digest::from_hex(hex)));
  BOOST_TEST(!(*d == *Sha256Digest::from_hex(std::string(64, '0'))));
  for (const std::string& bad : {hex.substr(1), hex + "0", "00FF10A9" + std::string(56, 'e'),
                                 "00ff10ag" + std::string(56, 'e'), std::string()})
    BOOST_TEST(!Sha256Digest::from_hex(bad).has_value(), bad);
  BOOST_TEST(Sha256Digest{}.empty());
  BOOST_TEST(Sha256Digest{}.hex().empty());
}

BOOST_AUTO_TEST_CASE(registering_twice_conflicts) {
  State s = initial_state(kUser);
  auto first = when_json(s, register_json("client"), kAnonymous);
  BOOST_REQUIRE(first.has_value());
  evolve(s, first->front());
  then_rejected(when_json(s, register_json("client"), kAnonymous), RejectionKind::conflict,
                "already_registered");
  then_rejected(when_json(s, register_json("counselor"), kSystem), RejectionKind::conflict,
                "already_registered");
}

BOOST_AUTO_TEST_CASE(staff_roles_only_from_the_system_or_an_admin) {
  State s = initial_state(kUser);
  const Actor an_admin{UserId{counsel::test::nth_uuid(99)}, Role::admin};
  for (auto role : {"admin", "compliance"}) {
    then_rejected(when_json(s, register_json(role), kAnonymous), RejectionKind::forbidden,
                  "role_not_allowed");
    auto ok = when_json(s, register_json(role), kSystem);
    BOOST_TEST(ok.has_value());
  }
  // An admin creates compliance accounts, never other admins (that is the ops tool's job).
  then_rejected(when_json(s, register_json("admin"), an_admin), RejectionKind::forbidden,
                "role_not_allowed");
  BOOST_TEST(when_json(s, register_json("compliance"), an_admin).has_value());
  then_rejected(when_json(s, register_json("system"), kSystem), RejectionKind::invalid,
                "invalid_command");
  then_rejected(when_json(s, register_json("superuser"), kSystem), RejectionKind::invalid,
                "invalid_command");
}

BOOST_AUTO_TEST_CASE(registration_input_is_validated) {
  State s = initial_state(kUser);
  auto bad = [&](const std::string& data) {
    then_rejected(when_json(s, data, kAnonymous), RejectionKind::invalid, "invalid_command");
  };
  auto replace = [](std::string text, std::string_view from, std::string_view to) {
    text.replace(text.find(from), from.size(), to);
    return text;
  };
  const auto good = register_json("client");
  bad(replace(good, kUser.value().str(), "not-a-uuid"));
  bad(replace(good, kEmailHash, "ABC"));
  bad(replace(good, kEmailHash, std::string(64, 'A')));
  bad(replace(good, R"("enc:v1:ZW1haWw=")", R"("")"));
  bad(replace(good, R"("enc:v1:bmFtZQ==")", "7"));
  bad(replace(good, R"("enc:v1:aGFzaA==")", R"("")"));
  bad(replace(good, R"("enc:v1:aGFzaA==")",
              "\"" + std::string(account::kMaxEncryptedChars + 1, 'x') + "\""));
  bad("[]");
  // A user id that is not the stream's.
  then_rejected(when_json(s, register_json("client", test::user(11).value().str()), kAnonymous),
                RejectionKind::invalid, "stream_mismatch");
  BOOST_TEST(!parse_command("account.delete", doc("{}")).has_value());
  BOOST_TEST(handles_command("account.register"));
  BOOST_TEST(!handles_command("session.request"));
}

BOOST_AUTO_TEST_CASE(event_round_trip_and_redelivery) {
  AccountRegistered e{
      kUser, Role::counselor, "enc:v1:ZW1haWw=", kEmailHash, "enc:v1:bmFtZQ==", "enc:v1:aGFzaA=="};
  auto ne = encode(e);
  BOOST_TEST(ne.type == "account.registered");
  BOOST_TEST(ne.version == 1);
  BOOST_TEST(ne.data_json ==
             R"({"display_name":"enc:v1:bmFtZQ==","email":"enc:v1:ZW1haWw=","email_hash":")" +
                 kEmailHash +
                 R"(","password_hash":"enc:v1:aGFzaA==","role":"counselor","user_id":")" +
                 kUser.value().str() + "\"}");
  auto back = decode(ne.type, ne.version, doc(ne.data_json));
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST((std::get<AccountRegistered>(*back) == e));
  BOOST_TEST(!decode(ne.type, 2, doc(ne.data_json)).has_value());
  BOOST_TEST(!decode("account.deleted", 1, doc(ne.data_json)).has_value());
  BOOST_TEST(!decode(ne.type, 1, doc("{}")).has_value());

  State s = initial_state(kUser);
  evolve(s, *back);
  AccountRegistered other = e;
  other.role = Role::client;
  evolve(s, other);  // a redelivered (or stray) second registration changes nothing
  BOOST_TEST((s.role == Role::counselor));
  BOOST_TEST(account_view_json(initial_state(kUser)) == "null");
}

namespace {

std::string password_json(std::string_view hash = "enc:v1:bmV3", const UserId& user_id = kUser) {
  return R"({"user_id":")" + user_id.value().str() + R"(","password_hash":")" + std::string(hash) +
         "\"}";
}

Expected<std::vector<Event>, Rejection> when_password(const State& s, std::string_view data,
                                                      const Actor& actor) {
  auto d = doc(data);
  auto c = parse_command("account.change_password", d);
  if (!c) return unexpected(c.error());
  return decide(s, *c, actor, kNow);
}

State registered_client() {
  State s = initial_state(kUser);
  auto r = when_json(s, register_json("client"), kAnonymous);
  BOOST_REQUIRE(r.has_value());
  evolve(s, r->front());
  return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_holder_changes_the_password) {
  State s = registered_client();
  BOOST_TEST(handles_command("account.change_password"));
  auto r = when_password(s, password_json(), kAnonymous);
  BOOST_REQUIRE(r.has_value());
  BOOST_REQUIRE(r->size() == 1u);
  const auto& e = std::get<AccountPasswordChanged>(r->front());
  BOOST_TEST((e.user_id == kUser));
  BOOST_TEST(e.password_hash == "enc:v1:bmV3");
  BOOST_TEST(event_type(r->front()) == "account.password_changed");
  const auto before = account_view_json(s);
  evolve(s, e);
  BOOST_TEST(account_view_json(s) == before);  // nothing the account's rules read changes
  BOOST_TEST(to_string(s.role) == "client");
  // The system (ops tools) may change it too.
  BOOST_TEST(when_password(s, password_json("enc:v1:b3Bz"), kSystem).has_value());
}

BOOST_AUTO_TEST_CASE(password_change_is_refused_for_others_and_unknown_accounts) {
  State s = registered_client();
  then_rejected(when_password(s, password_json(), Actor{test::user(11), Role::client}),
                RejectionKind::forbidden, "not_account_holder");
  then_rejected(when_password(s, password_json(), Actor{test::user(11), Role::admin}),
                RejectionKind::forbidden, "not_account_holder");
  then_rejected(when_password(initial_state(kUser), password_json(), kAnonymous),
                RejectionKind::not_found, "account_not_found");
  then_rejected(when_password(s, password_json("enc:v1:bmV3", test::user(11)), kAnonymous),
                RejectionKind::invalid, "stream_mismatch");
  then_rejected(when_password(s, password_json(""), kAnonymous), RejectionKind::invalid,
                "invalid_command");
  then_rejected(when_password(s, password_json(std::string(account::kMaxEncryptedChars + 1, 'x')),
                              kAnonymous),
                RejectionKind::invalid, "invalid_command");
  then_rejected(when_password(s, R"({"password_hash":"enc:v1:bmV3"})", kAnonymous),
                RejectionKind::invalid, "invalid_command");
  then_rejected(when_password(s, "[]", kAnonymous), RejectionKind::invalid, "invalid_command");
}

BOOST_AUTO_TEST_CASE(password_changed_round_trip) {
  AccountPasswordChanged e{kUser, "enc:v1:bmV3"};
  auto ne = encode(e);
  BOOST_TEST(ne.type == "account.password_changed");
  BOOST_TEST(ne.version == 1);
  BOOST_TEST(ne.data_json ==
             R"({"password_hash":"enc:v1:bmV3","user_id":")" + kUser.value().str() + "\"}");
  auto back = decode(ne.type, ne.version, doc(ne.data_json));
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST((std::get<AccountPasswordChanged>(*back) == e));
  BOOST_TEST(!decode(ne.type, 2, doc(ne.data_json)).has_value());
  BOOST_TEST(
      !decode(ne.type, 1, doc(R"({"user_id":"x","password_hash":"enc:v1:bmV3"})")).has_value());
}

// ---------------- status, sign-in, two-factor, profile ----------------

namespace {

State registered(const char* role = "client") {
  State s = initial_state(kUser);
  auto r = when_json(s, register_json(role), kAnonymous);
  BOOST_REQUIRE(r.has_value());
  for (auto& e : *r) evolve(s, e);
  return s;
}

Expected<std::vector<Event>, Rejection> when(const State& s, std::string_view type,
                                             std::string_view data_members, const Actor& actor) {
  auto d = doc(R"({"user_id":")" + kUser.value().str() + "\"" + std::string(data_members) + "}");
  auto c = parse_command(type, d);
  if (!c) return unexpected(c.error());
  return decide(s, *c, actor, kNow);
}

void apply_all(State& s, const Expected<std::vector<Event>, Rejection>& r) {
  BOOST_REQUIRE_MESSAGE(r.has_value(), "rejected: " << (r ? "" : r.error().code));
  for (auto& e : *r) evolve(s, e);
}

const Actor kAdmin{UserId{counsel::test::nth_uuid(98)}, Role::admin};
const std::string kHashA(64, 'a'), kHashB(64, 'b');

}  // namespace

BOOST_AUTO_TEST_CASE(only_admins_suspend_and_changes_are_idempotent) {
  State s = registered();
  then_rejected(when(s, "account.suspend", R"(,"reason":"")", kAnonymous), RejectionKind::forbidden,
                "admin_only");
  auto suspended = when(s, "account.suspend", R"(,"reason":"enc:v1:eA==")", kAdmin);
  BOOST_REQUIRE(suspended.has_value());
  BOOST_TEST(suspended->size() == 1u);
  BOOST_TEST(std::holds_alternative<Suspended>(suspended->front()));
  apply_all(s, suspended);
  BOOST_TEST(s.suspended);
  BOOST_TEST(when(s, "account.suspend", R"(,"reason":"")", kAdmin)->empty());
  then_rejected(when(s, "account.record_login", R"(,"second_factor":"none")", kAnonymous),
                RejectionKind::forbidden, "account_suspended");
  apply_all(s, when(s, "account.reinstate", "", kAdmin));
  BOOST_TEST(!s.suspended);
  BOOST_TEST(when(s, "account.reinstate", "", kAdmin)->empty());
  apply_all(s, when(s, "account.verify", "", kAdmin));
  BOOST_TEST(s.verified);
  // Plain text where an encrypted reason belongs is refused (a leak into the log).
  then_rejected(when(s, "account.suspend", R"(,"reason":"clear text")", kAdmin),
                RejectionKind::invalid, "invalid_command");
}

BOOST_AUTO_TEST_CASE(admins_cannot_change_their_own_status_or_other_admins) {
  State admin = initial_state(kUser);
  apply_all(admin, when_json(admin, register_json("admin"), kSystem));
  then_rejected(when(admin, "account.suspend", R"(,"reason":"")", Actor{kUser, Role::admin}),
                RejectionKind::unprocessable, "cannot_change_own_status");
  then_rejected(when(admin, "account.suspend", R"(,"reason":"")", kAdmin), RejectionKind::forbidden,
                "role_not_allowed");
  BOOST_TEST(when(admin, "account.suspend", R"(,"reason":"")", kSystem).has_value());
}

BOOST_AUTO_TEST_CASE(two_factor_makes_sign_in_need_a_second_factor) {
  State s = registered();
  apply_all(s, when(s, "account.record_login", R"(,"second_factor":"none")", kAnonymous));
  const std::string enable = R"(,"totp_secret":"enc:v1:cw==","recovery_code_hashes":[")" + kHashA +
                             R"(",")" + kHashB + R"("])";
  then_rejected(when(s, "account.enable_two_factor", enable, kAdmin), RejectionKind::forbidden,
                "not_account_holder");
  apply_all(s, when(s, "account.enable_two_factor", enable, kAnonymous));
  BOOST_TEST(s.two_factor_enabled);
  then_rejected(when(s, "account.enable_two_factor", enable, kAnonymous), RejectionKind::conflict,
                "two_factor_already_enabled");
  then_rejected(when(s, "account.record_login", R"(,"second_factor":"none")", kAnonymous),
                RejectionKind::unauthorized, "totp_required");
  apply_all(s, when(s, "account.record_login", R"(,"second_factor":"totp")", kAnonymous));
  // A recovery code works exactly once.
  apply_all(s, when(s, "account.use_recovery_code", R"(,"code_hash":")" + kHashA + "\"", kSystem));
  then_rejected(when(s, "account.use_recovery_code", R"(,"code_hash":")" + kHashA + "\"", kSystem),
                RejectionKind::unauthorized, "invalid_recovery_code");
  BOOST_TEST(s.unused_recovery_codes.size() == 1u);
}

BOOST_AUTO_TEST_CASE(failures_and_resets_are_recorded_by_the_system_only) {
  State s = registered();
  then_rejected(
      when(s, "account.record_login_failure", R"(,"reason":"invalid_password")", kAnonymous),
      RejectionKind::forbidden, "system_only");
  BOOST_TEST(
      when(s, "account.record_login_failure", R"(,"reason":"invalid_totp")", kSystem)->size() ==
      1u);
  then_rejected(when(s, "account.record_login_failure", R"(,"reason":"guessing")", kSystem),
                RejectionKind::invalid, "invalid_command");
  then_rejected(when(s, "account.request_password_reset", R"(,"expires_at":"2030-01-01T00:00:00Z")",
                     kAnonymous),
                RejectionKind::forbidden, "system_only");
  auto reset =
      when(s, "account.request_password_reset", R"(,"expires_at":"2030-01-01T00:00:00Z")", kSystem);
  BOOST_REQUIRE(reset.has_value());
  BOOST_TEST(std::holds_alternative<PasswordResetRequested>(reset->front()));
}

BOOST_AUTO_TEST_CASE(client_profile_and_anonymous_mode) {
  State s = registered();
  const std::string anonymous =
      R"(,"picture_url":"","bio":"enc:v1:Yg==","address":"","preferences":"",)"
      R"("preferred_language":"zu","anonymous":true,"alias":"enc:v1:YQ==")";
  then_rejected(when(s, "account.update_client_profile", anonymous, kAdmin),
                RejectionKind::forbidden, "not_account_holder");
  apply_all(s, when(s, "account.update_client_profile", anonymous, kAnonymous));
  BOOST_TEST(s.anonymous);
  then_rejected(when(s, "account.update_client_profile",
                     R"(,"picture_url":"","bio":"","address":"","preferences":"",)"
                     R"("preferred_language":"","anonymous":true,"alias":"")",
                     kAnonymous),
                RejectionKind::invalid, "invalid_command");
  then_rejected(when(s, "account.update_client_profile",
                     R"(,"picture_url":"","bio":"","address":"","preferences":"",)"
                     R"("preferred_language":"Zulu!","anonymous":false,"alias":"")",
                     kAnonymous),
                RejectionKind::invalid, "invalid_command");
  State counselor = registered("counselor");
  then_rejected(when(counselor, "account.update_client_profile", anonymous, kAnonymous),
                RejectionKind::unprocessable, "not_a_client");
  then_rejected(when(s, "account.record_identity_reveal", R"(,"reason":"enc:v1:cg==")",
                     Actor{UserId{counsel::test::nth_uuid(97)}, Role::counselor}),
                RejectionKind::forbidden, "admin_only");
  BOOST_TEST(
      when(s, "account.record_identity_reveal", R"(,"reason":"enc:v1:cg==")", kAdmin)->size() ==
      1u);
}

BOOST_AUTO_TEST_CASE(every_new_event_round_trips) {
  const std::vector<Event> events{PasswordResetRequested{kUser, kNow},
                                  LoggedIn{kUser, SecondFactor::recovery_code},
                                  LoginFailed{kUser, LoginFailure::totp_required},
                                  Verified{kUser},
                                  Suspended{kUser, ""},
                                  Reinstated{kUser},
                                  TwoFactorEnabled{kUser, "enc:v1:cw==", {kHashA, kHashB}},
                                  RecoveryCodeUsed{kUser, kHashB},
                                  ClientProfileUpdated{kUser, "enc:v1:cA==", "", "",
                                                       "enc:v1:e30=", "en-ZA", true, "enc:v1:YQ=="},
                                  IdentityRevealed{kUser, "enc:v1:cg=="},
                                  ErasureRequested{kUser, ErasureGrounds::counselor_records},
                                  ErasureRejected{kUser},
                                  Erased{kUser, std::nullopt},
                                  Erased{kUser, kAdmin.id}};
  for (const auto& e : events) {
    auto encoded = encode(e);
    BOOST_TEST(encoded.type == std::string(event_type(e)));
    auto back = decode(encoded.type, 1, doc(encoded.data_json));
    BOOST_REQUIRE_MESSAGE(back.has_value(), encoded.type << " " << encoded.data_json);
    BOOST_TEST((*back == e), encoded.type);
  }
}

BOOST_AUTO_TEST_CASE(a_client_without_clinical_records_erases_at_once) {
  State s = registered("client");
  then_rejected(when(s, "account.erase", R"(,"approved_by":"")", kAdmin), RejectionKind::conflict,
                "no_erasure_request");
  then_rejected(when(s, "account.erase", R"(,"approved_by":"")", Actor{user(11), Role::client}),
                RejectionKind::forbidden, "admin_only");
  auto erased = when(s, "account.erase", R"(,"approved_by":"")", kAnonymous);
  BOOST_REQUIRE(erased.has_value());
  BOOST_TEST((std::get<Erased>(erased->front()) == Erased{kUser, std::nullopt}));
  apply_all(s, erased);
  BOOST_TEST(s.erased);
  BOOST_TEST(s.unused_recovery_codes.empty());
  // A tombstone: nothing more is recorded for the account, not even by the system.
  then_rejected(when(s, "account.record_login", R"(,"second_factor":"none")", kSystem),
                RejectionKind::conflict, "account_erased");
  then_rejected(when(s, "account.erase", R"(,"approved_by":"")", kAnonymous),
                RejectionKind::conflict, "account_erased");
}

BOOST_AUTO_TEST_CASE(clinicians_records_wait_for_an_admin) {
  State s = registered("counselor");
  then_rejected(when(s, "account.erase", R"(,"approved_by":"")", kAnonymous),
                RejectionKind::forbidden, "erasure_needs_approval");
  then_rejected(when(s, "account.request_erasure", R"(,"grounds":"counselor_records")", kAdmin),
                RejectionKind::forbidden, "not_account_holder");
  apply_all(s, when(s, "account.request_erasure", R"(,"grounds":"counselor_records")", kAnonymous));
  BOOST_TEST(s.erasure_pending);
  // Asking again while pending changes nothing.
  BOOST_TEST(
      when(s, "account.request_erasure", R"(,"grounds":"counselor_records")", kAnonymous)->empty());
  then_rejected(when(s, "account.reject_erasure", "", kAnonymous), RejectionKind::forbidden,
                "admin_only");
  apply_all(s, when(s, "account.reject_erasure", "", kAdmin));
  BOOST_TEST(!s.erasure_pending);
  then_rejected(when(s, "account.reject_erasure", "", kAdmin), RejectionKind::conflict,
                "no_erasure_request");

  // A client whose request is pending cannot skip the approval either.
  State client = registered("client");
  apply_all(client, when(client, "account.request_erasure", R"(,"grounds":"clinical_records")",
                         kAnonymous));
  then_rejected(when(client, "account.erase", R"(,"approved_by":"")", kAnonymous),
                RejectionKind::forbidden, "erasure_needs_approval");
  // The approving admin names themself.
  then_rejected(when(client, "account.erase", R"(,"approved_by":"")", kAdmin),
                RejectionKind::invalid, "invalid_command");
  const std::string approved = R"(,"approved_by":")" + kAdmin.id.value().str() + "\"";
  apply_all(client, when(client, "account.erase", approved, kAdmin));
  BOOST_TEST(client.erased);
  BOOST_TEST(!client.erasure_pending);
}

BOOST_AUTO_TEST_CASE(staff_accounts_are_not_erased_through_the_api) {
  State admin = initial_state(kUser);
  apply_all(admin, when_json(admin, register_json("admin"), kSystem));
  then_rejected(when(admin, "account.erase", R"(,"approved_by":"")", Actor{kUser, Role::admin}),
                RejectionKind::forbidden, "role_not_allowed");
  then_rejected(when(admin, "account.request_erasure", R"(,"grounds":"clinical_records")",
                     Actor{kUser, Role::admin}),
                RejectionKind::forbidden, "role_not_allowed");
}

BOOST_AUTO_TEST_SUITE_END()
