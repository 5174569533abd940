// Given events / when command / then events (or a rejection) for the room aggregate.
#include "domain/aggregates/room.hpp"

#include <boost/test/unit_test.hpp>

#include "domain_test_support.hpp"

using namespace counsel;
using namespace counsel::room;
using counsel::test::at;
using counsel::test::doc;
using counsel::test::nth_uuid;
using counsel::test::user;

namespace {

const RoomId kRoom{nth_uuid(1, 50)};
const UserId kClient = user(1), kCounselor = user(2), kOutsider = user(3);
const Actor kAsClient{kClient, Role::client}, kAsCounselor{kCounselor, Role::counselor};
const Actor kAsOutsider{kOutsider, Role::client}, kSystem{UserId{}, Role::system};
const Timestamp kNow = at("2026-02-23T08:00:00Z");
const std::string kSealed = "enc:v1:aGVsbG8=";

MessageId message(unsigned n) {
  return MessageId{nth_uuid(n, 51)};
}

std::string open_json(const UserId& client = kClient, const UserId& counselor = kCounselor,
                      std::string_view session = "") {
  return R"({"room_id":")" + kRoom.value().str() + R"(","participants":[")" + client.value().str() +
         R"(",")" + counselor.value().str() + R"("],"session_id":")" + std::string(session) + "\"}";
}

std::string send_json(unsigned n, const UserId& sender, std::string_view content = kSealed,
                      std::string_view type = "text") {
  return R"({"message_id":")" + message(n).value().str() + R"(","sender_id":")" +
         sender.value().str() + R"(","content":")" + std::string(content) +
         R"(","message_type":")" + std::string(type) + "\"}";
}

std::string read_json(const UserId& reader, const MessageId& up_to) {
  return R"({"user_id":")" + reader.value().str() + R"(","up_to":")" + up_to.value().str() + "\"}";
}

Expected<std::vector<Event>, Rejection> when(const State& s, std::string_view type,
                                             std::string_view data, const Actor& actor) {
  auto d = doc(data);
  auto c = parse_command(type, d);
  if (!c) return unexpected(c.error());
  return decide(s, *c, actor, kNow);
}

// Decides and evolves; the command must be accepted.
std::vector<Event> apply(State& s, std::string_view type, std::string_view data,
                         const Actor& actor) {
  auto r = when(s, type, data, actor);
  BOOST_REQUIRE_MESSAGE(r.has_value(), "rejected: " << (r ? "" : r.error().code));
  for (auto& e : *r) evolve(s, e);
  return *r;
}

void then_rejected(const Expected<std::vector<Event>, Rejection>& r, RejectionKind kind,
                   std::string_view code) {
  BOOST_REQUIRE_MESSAGE(!r.has_value(), "expected rejection " << code);
  BOOST_TEST(r.error().code == code);
  BOOST_TEST(to_string(r.error().kind) == to_string(kind));
}

State open_room() {
  State s = initial_state(kRoom);
  apply(s, "room.open", open_json(), kAsClient);
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(room_aggregate_test)

BOOST_AUTO_TEST_CASE(a_participant_opens_the_room_once) {
  const std::string session = test::session(7).value().str();
  State s = initial_state(kRoom);
  auto events = apply(s, "room.open", open_json(kClient, kCounselor, session), kAsCounselor);
  BOOST_REQUIRE(events.size() == 1u);
  const auto& opened = std::get<RoomOpened>(events.front());
  BOOST_TEST((opened.room_id == kRoom));
  BOOST_TEST((opened.client_id == kClient));
  BOOST_TEST((opened.counselor_id == kCounselor));
  BOOST_TEST((opened.session_id == test::session(7)));
  BOOST_TEST(s.opened);
  BOOST_TEST(room_view_json(s) == R"({"client_id":")" + kClient.value().str() +
                                      R"(","counselor_id":")" + kCounselor.value().str() +
                                      R"(","id":")" + kRoom.value().str() + R"(","session_id":")" +
                                      session + "\"}");
  // Opening again is a no-op, whoever of the two asks and whatever booking they name.
  BOOST_TEST(apply(s, "room.open", open_json(), kAsClient).empty());
  then_rejected(when(s, "room.open", open_json(kOutsider, kCounselor), kAsOutsider),
                RejectionKind::conflict, "room_participants_differ");
}

BOOST_AUTO_TEST_CASE(only_a_participant_in_their_own_role_opens_it) {
  State s = initial_state(kRoom);
  then_rejected(when(s, "room.open", open_json(), kAsOutsider), RejectionKind::forbidden,
                "not_participant");
  // The client is not the counsellor of the pair, nor the other way round.
  then_rejected(when(s, "room.open", open_json(kCounselor, kClient), kAsClient),
                RejectionKind::forbidden, "not_participant");
  then_rejected(when(s, "room.open", open_json(), Actor{kClient, Role::counselor}),
                RejectionKind::forbidden, "not_participant");
  then_rejected(when(s, "room.open", open_json(), Actor{user(9), Role::admin}),
                RejectionKind::forbidden, "not_participant");
  BOOST_TEST(when(s, "room.open", open_json(), kSystem).has_value());
}

BOOST_AUTO_TEST_CASE(malformed_commands_are_refused) {
  State s = initial_state(kRoom);
  auto invalid = [&](std::string_view type, const std::string& data) {
    then_rejected(when(s, type, data, kAsClient), RejectionKind::invalid, "invalid_command");
  };
  invalid("room.open", open_json(kClient, kClient));  // yourself
  invalid("room.open", open_json(kClient, kCounselor, "not-a-uuid"));
  invalid("room.open", R"({"room_id":")" + kRoom.value().str() + R"(","participants":[")" +
                           kClient.value().str() + R"("],"session_id":""})");
  invalid("room.open", R"({"participants":[],"session_id":""})");
  then_rejected(when(s, "room.open",
                     R"({"room_id":")" + nth_uuid(2, 50).str() + R"(","participants":[")" +
                         kClient.value().str() + R"(",")" + kCounselor.value().str() +
                         R"("],"session_id":""})",
                     kAsClient),
                RejectionKind::invalid, "stream_mismatch");

  s = open_room();
  invalid("chat.send_message", send_json(1, kClient, "hello in clear text"));
  invalid("chat.send_message", send_json(1, kClient, "enc:v1:"));
  invalid("chat.send_message", send_json(1, kClient, kSealed, "image"));
  invalid("chat.send_message", "{}");
  invalid("chat.send_message",
          send_json(1, kClient, "enc:v1:" + std::string(kMaxSealedContentChars, 'A')));
  BOOST_TEST(when(s, "chat.send_message",
                  send_json(1, kClient, "enc:v1:" + std::string(kMaxSealedContentChars - 7, 'A')),
                  kAsClient)
                 .has_value());
  invalid("chat.mark_read", R"({"user_id":")" + kClient.value().str() + R"(","up_to":"x"})");
  then_rejected(when(s, "chat.shout", "{}", kAsClient), RejectionKind::invalid, "unknown_command");
}

BOOST_AUTO_TEST_CASE(the_largest_message_the_api_accepts_fits_once_sealed) {
  // 4000 four-byte code points, sealed: nonce (24) + ciphertext (16000) + tag (16) in base64.
  const size_t sealed = 7 + (24 + 4 * kMaxMessageChars + 16 + 2) / 3 * 4;
  BOOST_TEST(sealed <= kMaxSealedContentChars);
}

BOOST_AUTO_TEST_CASE(participants_send_messages_once_each) {
  State s = open_room();
  auto events = apply(s, "chat.send_message", send_json(1, kClient), kAsClient);
  BOOST_REQUIRE(events.size() == 1u);
  const auto& sent = std::get<MessageSent>(events.front());
  BOOST_TEST((sent.room_id == kRoom));
  BOOST_TEST((sent.message_id == message(1)));
  BOOST_TEST((sent.sender_id == kClient));
  BOOST_TEST(sent.content == kSealed);
  BOOST_TEST(to_string(sent.message_type) == "text");
  BOOST_TEST(apply(s, "chat.send_message", send_json(2, kCounselor), kAsCounselor).size() == 1u);
  // The same message id again (a retried request, a redelivered command) adds nothing.
  BOOST_TEST(apply(s, "chat.send_message", send_json(1, kClient), kAsClient).empty());
  BOOST_TEST(s.message_positions.size() == 2u);
  BOOST_TEST(message_view_json(s, message(2)) == R"({"id":")" + message(2).value().str() +
                                                     R"(","position":2,"room_id":")" +
                                                     kRoom.value().str() + "\"}");
  BOOST_TEST(message_view_json(s, message(9)) == "null");
}

BOOST_AUTO_TEST_CASE(only_participants_post_in_their_own_name) {
  State s = initial_state(kRoom);
  then_rejected(when(s, "chat.send_message", send_json(1, kClient), kAsClient),
                RejectionKind::not_found, "room_not_found");
  s = open_room();
  then_rejected(when(s, "chat.send_message", send_json(1, kOutsider), kAsOutsider),
                RejectionKind::forbidden, "not_participant");
  then_rejected(when(s, "chat.send_message", send_json(1, kClient), kAsOutsider),
                RejectionKind::forbidden, "not_participant");
  // A participant cannot put words in the other's mouth.
  then_rejected(when(s, "chat.send_message", send_json(1, kCounselor), kAsClient),
                RejectionKind::forbidden, "not_participant");
  then_rejected(when(s, "chat.send_message", send_json(1, kClient), Actor{user(9), Role::admin}),
                RejectionKind::forbidden, "not_participant");
  then_rejected(when(s, "chat.send_message", send_json(1, kOutsider), kSystem),
                RejectionKind::forbidden, "not_participant");
}

BOOST_AUTO_TEST_CASE(read_markers_only_move_forward) {
  State s = open_room();
  for (unsigned n = 1; n <= 3; ++n)
    apply(s, "chat.send_message", send_json(n, n == 2 ? kCounselor : kClient),
          n == 2 ? kAsCounselor : kAsClient);

  auto events = apply(s, "chat.mark_read", read_json(kCounselor, message(2)), kAsCounselor);
  BOOST_REQUIRE(events.size() == 1u);
  const auto& read = std::get<MessagesRead>(events.front());
  BOOST_TEST((read.room_id == kRoom));
  BOOST_TEST((read.user_id == kCounselor));
  BOOST_TEST((read.up_to == message(2)));
  // Not newer: nothing happens.
  BOOST_TEST(apply(s, "chat.mark_read", read_json(kCounselor, message(2)), kAsCounselor).empty());
  BOOST_TEST(apply(s, "chat.mark_read", read_json(kCounselor, message(1)), kAsCounselor).empty());
  BOOST_TEST(apply(s, "chat.mark_read", read_json(kCounselor, message(3)), kAsCounselor).size() ==
             1u);
  BOOST_TEST(read_view_json(s, kCounselor) ==
             R"({"room_id":")" + kRoom.value().str() + R"(","up_to":")" + message(3).value().str() +
                 R"(","user_id":")" + kCounselor.value().str() + "\"}");
  // Each participant has their own marker.
  BOOST_TEST(read_view_json(s, kClient).find("\"up_to\":null") != std::string::npos);
  BOOST_TEST(apply(s, "chat.mark_read", read_json(kClient, message(1)), kAsClient).size() == 1u);
}

BOOST_AUTO_TEST_CASE(reading_needs_a_message_of_the_room_and_a_participant) {
  State s = initial_state(kRoom);
  then_rejected(when(s, "chat.mark_read", read_json(kClient, message(1)), kAsClient),
                RejectionKind::not_found, "room_not_found");
  s = open_room();
  apply(s, "chat.send_message", send_json(1, kClient), kAsClient);
  then_rejected(when(s, "chat.mark_read", read_json(kClient, message(2)), kAsClient),
                RejectionKind::unprocessable, "unknown_message");
  then_rejected(when(s, "chat.mark_read", read_json(kOutsider, message(1)), kAsOutsider),
                RejectionKind::forbidden, "not_participant");
  then_rejected(when(s, "chat.mark_read", read_json(kCounselor, message(1)), kAsClient),
                RejectionKind::forbidden, "not_participant");
}

BOOST_AUTO_TEST_CASE(events_round_trip_and_replay_tolerates_redelivery) {
  State s = open_room();
  std::vector<Event> all{RoomOpened{kRoom, kClient, kCounselor, std::nullopt}};
  for (auto& e : apply(s, "chat.send_message", send_json(1, kClient), kAsClient)) all.push_back(e);
  for (auto& e : apply(s, "chat.send_message", send_json(2, kCounselor), kAsCounselor))
    all.push_back(e);
  for (auto& e : apply(s, "chat.mark_read", read_json(kClient, message(2)), kAsClient))
    all.push_back(e);

  State replayed = initial_state(kRoom);
  for (const auto& e : all) {
    const NewEvent encoded = encode(e);
    auto back = decode(encoded.type, encoded.version, doc(encoded.data_json));
    BOOST_REQUIRE(back.has_value());
    BOOST_TEST((*back == e));
    evolve(replayed, *back);
    evolve(replayed, *back);  // delivered twice
  }
  BOOST_TEST(replayed.message_positions.size() == 2u);
  BOOST_TEST(replayed.message_positions.at(message(2)) == 2);
  BOOST_TEST(read_view_json(replayed, kClient) == read_view_json(s, kClient));
  BOOST_TEST(room_view_json(replayed) == room_view_json(s));
  BOOST_TEST(encode(all.front()).data_json.find(R"("session_id":"")") != std::string::npos);
  BOOST_TEST(!decode("chat.message_sent", 2, doc(encode(all[1]).data_json)).has_value());
  BOOST_TEST(!decode("chat.message_sent", 1, doc(R"({"room_id":"x"})")).has_value());
  BOOST_TEST(!decode("room.closed", 1, doc(encode(all.front()).data_json)).has_value());
}

BOOST_AUTO_TEST_CASE(a_stream_without_a_room_id_takes_no_commands) {
  State s = initial_state(RoomId{});
  then_rejected(when(s, "room.open", open_json(), kAsClient), RejectionKind::invalid,
                "invalid_stream");
}

BOOST_AUTO_TEST_SUITE_END()
