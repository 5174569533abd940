#pragma once
// A year of activity planned ahead as a time-ordered list of actions, each of which the real
// system turns into exactly one event: sign-ups, sign-ins, bookings moving through their
// state machine, reviews, chat rooms with messages and read markers, patient records. Planning
// keeps its own calendar of who is busy when, so every action is one the aggregates accept
// when it is decided at its moment; nothing is planned at or after the loader's start, and no
// session comes near the first bookable date.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/aggregates/counselor.hpp"
#include "domain/aggregates/room.hpp"
#include "tests/bench/seed/population.hpp"

namespace counsel::bench {

enum class ActionKind : uint8_t {
  register_counselor,
  update_counselor_profile,
  set_availability,
  verify_counselor,
  register_client,
  update_client_profile,
  login,  // flag: 1 = a counsellor; a = their index
  request_session,
  confirm_session,
  decline_session,
  cancel_session,  // flag: 1 = the counsellor cancels
  complete_session,
  mark_no_show,
  submit_review,  // b = rating; flag: 1 = with a comment
  open_room,
  send_message,  // a = message
  mark_read,     // a = room, b = message read up to; flag: 1 = the counsellor reads
  create_patient,
  add_patient_tag,        // b = tag; flag: 1 = the counsellor adds it
  update_patient_wallet,  // b = amount in cents
  add_patient_session,    // b = session; flag: 1 = the session's counsellor adds it
};

struct Action {
  Timestamp at;
  uint32_t order = 0;  // planning order: breaks ties so that a cause precedes its effect
  ActionKind kind = ActionKind::login;
  uint8_t flag = 0;
  uint32_t a = 0;  // the subject: counsellor, client, session, room, message or patient index
  uint32_t b = 0;
};

struct PlannedSession {
  SessionId id;  // = the booking command's id, as the api makes it
  uint32_t client = 0;
  uint32_t counselor = 0;
  Timestamp booked_at{};
  Timestamp start{};
  int minutes = 50;
  counselor::SessionMode mode = counselor::SessionMode::video;
  std::optional<Timestamp> completed_at;
};

struct PlannedRoom {
  room::RoomId id;  // derived from the pair, as the api derives it
  uint32_t client = 0;
  uint32_t counselor = 0;
  std::optional<uint32_t> session;  // opened from this booking (by the client)
  bool opened_by_client = true;
  uint32_t messages = 0;
};

struct PlannedMessage {
  room::MessageId id;
  uint32_t room = 0;
  bool from_counselor = false;
};

struct PlannedPatient {
  std::string id;  // "p_" + 6 characters
  uint32_t client = 0;
  uint32_t counselor = 0;  // the one who tags the record
};

struct HistoryPlan {
  std::vector<Action> actions;  // sorted by (at, order)
  std::vector<PlannedSession> sessions;
  std::vector<PlannedRoom> rooms;
  std::vector<PlannedMessage> messages;
  std::vector<PlannedPatient> patients;
};

inline const std::vector<std::string>& patient_tags() {
  static const std::vector<std::string> tags = {"cbt",      "follow-up",     "medication-review",
                                                "referred", "high-priority", "group-therapy"};
  return tags;
}

// Plans exactly `events` actions (one event each). Throws std::invalid_argument when `events`
// is below what the sign-ups alone take.
HistoryPlan plan_history(const Population& people, const Timeline& timeline, int64_t events,
                         SeedRandom& random);

}  // namespace counsel::bench
