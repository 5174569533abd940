#pragma once
// The access aggregate (stream access-<subject>): the record of who read a person's sensitive
// data (POPIA s23 access requests, HIPAA 164.312(b) audit controls). The api reports each read
// of another person's profile, patient record, session or chat history; this aggregate only
// checks that a record is well formed and counts them, so recording never refuses a real read.
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

namespace counsel::access {

// What was read.
enum class Resource { user_profile, client_profile, patient_record, session, chat_history };
const char* to_string(Resource r);
std::optional<Resource> resource_from_string(std::string_view text);

// Why the reader may see it: the rule of the access policy that let the read through.
enum class Basis {
  care_relationship,  // the subject's counsellor (a booking between them)
  administration,     // an admin's duties
  identity_reveal,    // an admin looked behind an alias, with a recorded reason
  directory,          // the public part of a profile any signed-in user may see
};
const char* to_string(Basis b);
std::optional<Basis> basis_from_string(std::string_view text);

inline std::string access_stream(const UserId& subject) {
  return "access-" + subject.value().str();
}

// ---- events ----
struct Recorded {
  static constexpr const char* type = "access.recorded";
  UserId subject_id;  // whose data was read; the reader is the envelope's actor
  Resource what = Resource::user_profile;
  std::string resource_id;  // the record read: a user, patient ("p_..."), session or room id
  Basis why = Basis::directory;
  friend bool operator==(const Recorded&, const Recorded&) = default;
};
using Event = std::variant<Recorded>;
std::string_view event_type(const Event& e);

// ---- state ----
struct State {
  UserId subject_id;  // from the stream key
  int64_t records = 0;
};
State initial_state(const UserId& subject);

// ---- commands ----
// access.record {subject_id, what, resource_id, why}
struct RecordAccess {
  Recorded record;
};
using Command = std::variant<RecordAccess>;

bool handles_command(std::string_view command_type);
Expected<Command, Rejection> parse_command(std::string_view command_type, const json::Value& data);
// Any signed-in reader (or the system) records its own reads; the stream must be the subject's.
Expected<std::vector<Event>, Rejection> decide(const State& s, const Command& c, const Actor& actor,
                                               Timestamp now);
void evolve(State& s, const Event& e);
NewEvent encode(const Event& e);
std::optional<Event> decode(std::string_view type, int version, const json::Value& data);

// {subject_id, records}
std::string access_view_json(const State& s);

}  // namespace counsel::access
