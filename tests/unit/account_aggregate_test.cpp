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
    BOOST_TEST(account_view_json(s) == R"({"email_hash":")" + kEmailHash + R"(","id":")" +
                                           kUser.value().str() + R"(","role":")" + role + "\"}");
  }
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

BOOST_AUTO_TEST_CASE(staff_roles_only_from_the_system) {
  State s = initial_state(kUser);
  for (auto role : {"admin", "compliance"}) {
    then_rejected(when_json(s, register_json(role), kAnonymous), RejectionKind::forbidden,
                  "role_not_allowed");
    then_rejected(when_json(s, register_json(role), Actor{kUser, Role::admin}),
                  RejectionKind::forbidden, "role_not_allowed");
    auto ok = when_json(s, register_json(role), kSystem);
    BOOST_TEST(ok.has_value());
  }
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
  bad(replace(good, R"("enc:v1:aGFzaA==")", "\"" + std::string(4097, 'x') + "\""));
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
  evolve(s, e);
  BOOST_TEST(s.password_hash == "enc:v1:bmV3");
  BOOST_TEST(s.email == "enc:v1:ZW1haWw=");  // nothing else changes
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
  then_rejected(when_password(s, password_json(std::string(4097, 'x')), kAnonymous),
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

BOOST_AUTO_TEST_SUITE_END()
