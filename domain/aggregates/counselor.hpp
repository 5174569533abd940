#pragma once
// The counselor aggregate (stream counselor-<user>): profile, availability and the sessions
// booked with the counsellor, and the reviews of those sessions. Its hard invariants: a
// counsellor is never double-booked, a session only moves along its state machine, and a
// completed session gets at most one review, by its client. Pure: decide(state, command) ->
// events | rejection.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "domain/counselor_calendar.hpp"
#include "domain/events/envelope.hpp"
#include "domain/expected.hpp"
#include "domain/ids.hpp"
#include "domain/json.hpp"
#include "domain/rejection.hpp"
#include "domain/time.hpp"

namespace counsel::counselor {

// Reviews live in this aggregate (their rules read the session state), so their id type does too.
using ReviewId = named_type<Uuid, struct review_id_tag>;

enum class SessionStatus : uint8_t {
  requested,
  confirmed,
  declined,
  cancelled,
  completed,
  no_show
};
const char* to_string(SessionStatus s);
bool is_active(SessionStatus s);  // requested or confirmed: occupies the calendar

enum class SessionMode : uint8_t { chat, video, in_person };
const char* to_string(SessionMode m);
std::optional<SessionMode> parse_session_mode(std::string_view s);

// Cancelling less than this before the start marks the cancellation late.
inline constexpr std::chrono::hours kLateCancellationWindow{24};
inline constexpr int kMinDurationMinutes = 15;
inline constexpr int kMaxDurationMinutes = 240;
inline constexpr int kMinRating = 1;
inline constexpr int kMaxRating = 5;
// A review comment arrives sealed with the client's key: the api bounds the clear text (2000
// characters), this bounds its ciphertext (base64 of up to 4 bytes per character, plus overhead).
inline constexpr size_t kMaxReviewCommentChars = 12000;
// A cancellation's or decline's reason arrives sealed with the session client's key (it may
// describe their health): the api bounds the clear text (1000 characters), this its ciphertext
// (base64 of up to 4 bytes per character, plus overhead).
inline constexpr size_t kMaxSealedReasonChars = 6000;

// ---- events (catalogue: DESIGN/COMMON "The event catalogue") ----
struct ProfileUpdated {
  static constexpr const char* type = "counselor.profile_updated";
  UserId counselor_id;
  std::vector<std::string> specialties;
  std::vector<std::string> languages;
  std::string level;
  std::string bio;
  std::string credentials;  // qualifications and registration (e.g. HPCSA number); may be ""
  friend bool operator==(const ProfileUpdated&, const ProfileUpdated&) = default;
};
// Admin decisions about the counsellor, kept in this stream because they decide whether the
// counsellor can be booked (the account stream holds the same user's sign-in status).
struct CounselorVerified {
  static constexpr const char* type = "counselor.verified";
  UserId counselor_id;
  friend bool operator==(const CounselorVerified&, const CounselorVerified&) = default;
};
struct CounselorSuspended {
  static constexpr const char* type = "counselor.suspended";
  UserId counselor_id;
  friend bool operator==(const CounselorSuspended&, const CounselorSuspended&) = default;
};
struct CounselorReinstated {
  static constexpr const char* type = "counselor.reinstated";
  UserId counselor_id;
  friend bool operator==(const CounselorReinstated&, const CounselorReinstated&) = default;
};
struct AvailabilitySet {
  static constexpr const char* type = "counselor.availability_set";
  UserId counselor_id;
  calendar::Availability availability;
  friend bool operator==(const AvailabilitySet&, const AvailabilitySet&) = default;
};
struct SessionRequested {
  static constexpr const char* type = "session.requested";
  SessionId session_id;
  UserId counselor_id;
  UserId client_id;
  Timestamp start{};
  Timestamp end{};
  int duration_minutes = 0;
  std::string topic;  // opaque (encrypted for the client), may be ""
  SessionMode mode = SessionMode::chat;
  friend bool operator==(const SessionRequested&, const SessionRequested&) = default;
};
struct SessionConfirmed {
  static constexpr const char* type = "session.confirmed";
  SessionId session_id;
  UserId counselor_id;
  UserId client_id;
  friend bool operator==(const SessionConfirmed&, const SessionConfirmed&) = default;
};
// v2 of session.declined and session.cancelled seals the reason with the client's key; v1 (still
// in the log, never written again) carried it in clear text. Both decode into these structs.
struct SessionDeclined {
  static constexpr const char* type = "session.declined";
  static constexpr int version = 2;
  SessionId session_id;
  UserId counselor_id;
  UserId client_id;
  // "" or sealed with the client's key ("enc:v1:..."); clear text only when upcast from v1.
  std::string reason;
  friend bool operator==(const SessionDeclined&, const SessionDeclined&) = default;
};
struct SessionCancelled {
  static constexpr const char* type = "session.cancelled";
  static constexpr int version = 2;
  SessionId session_id;
  UserId counselor_id;
  UserId client_id;
  UserId cancelled_by;
  std::string reason;  // as SessionDeclined::reason
  bool late = false;
  friend bool operator==(const SessionCancelled&, const SessionCancelled&) = default;
};
struct SessionCompleted {
  static constexpr const char* type = "session.completed";
  SessionId session_id;
  UserId counselor_id;
  UserId client_id;
  friend bool operator==(const SessionCompleted&, const SessionCompleted&) = default;
};
struct SessionNoShow {
  static constexpr const char* type = "session.no_show";
  SessionId session_id;
  UserId counselor_id;
  UserId client_id;
  friend bool operator==(const SessionNoShow&, const SessionNoShow&) = default;
};

struct ReviewSubmitted {
  static constexpr const char* type = "review.submitted";
  ReviewId review_id;
  SessionId session_id;
  UserId counselor_id;
  UserId client_id;
  int rating = 0;       // kMinRating..kMaxRating
  std::string comment;  // opaque (encrypted for the client), may be ""
  friend bool operator==(const ReviewSubmitted&, const ReviewSubmitted&) = default;
};

using Event =
    std::variant<ProfileUpdated, AvailabilitySet, SessionRequested, SessionConfirmed,
                 SessionDeclined, SessionCancelled, SessionCompleted, SessionNoShow,
                 CounselorVerified, CounselorSuspended, CounselorReinstated, ReviewSubmitted>;
std::string_view event_type(const Event& e);

// ---- state ----
struct Profile {
  std::vector<std::string> specialties;
  std::vector<std::string> languages;
  std::string level;
  std::string bio;
  std::string credentials;
  bool has_profile = false;
};

// What the aggregate keeps of a session's review: enough to refuse a second one and to answer
// the command; the comment lives only in the event and the read model.
struct SubmittedReview {
  ReviewId review_id;
  int rating = 0;
};

// A processor holds every session of its counsellors, so a session keeps only what the rules
// decide by, in as few bytes as the layout allows: no topic (sealed for the client, it decides
// nothing; it lives in the event and the read model), small fields together.
struct Session {
  SessionId session_id;
  UserId client_id;
  Timestamp start{};
  Timestamp end{};
  int32_t duration_minutes = 0;
  SessionMode mode = SessionMode::chat;
  SessionStatus status = SessionStatus::requested;
  bool late_cancellation = false;
  std::optional<UserId> cancelled_by;
  std::optional<SubmittedReview> review;
  std::optional<std::string> reason;  // why it was cancelled or declined (as the event has it)
};

struct State {
  UserId counselor_id;
  Profile profile;
  std::optional<calendar::Availability> availability;
  // Only a verified, not suspended counsellor can be booked.
  bool verified = false;
  bool suspended = false;
  std::unordered_map<SessionId, Session> sessions;
  calendar::BusyIndex active;  // requested/confirmed sessions, ordered by start
};

State initial_state(const UserId& counselor_id);

// ---- commands ----
struct UpdateProfile {
  std::vector<std::string> specialties;
  std::vector<std::string> languages;
  std::string level;
  std::string bio;
  std::string credentials;
};
enum class AdminAction { verify, suspend, reinstate };
struct AdminDecision {  // admin or system; idempotent
  AdminAction action = AdminAction::verify;
};
struct SetAvailability {
  calendar::Availability availability;
};
struct RequestSession {
  SessionId session_id;
  UserId client_id;
  Timestamp start{};
  int duration_minutes = 0;
  std::string topic;
  SessionMode mode = SessionMode::chat;
};
enum class SessionAction { confirm, decline, complete, no_show, cancel };
struct ChangeSession {
  SessionAction action = SessionAction::confirm;
  SessionId session_id;
  std::string reason;  // "" or sealed with the session client's key ("enc:v1:...")
};
// The client of a completed session reviews the counsellor, once per session.
struct SubmitReview {
  ReviewId review_id;
  SessionId session_id;
  int rating = 0;
  std::string comment;  // "" or sealed with the client's key ("enc:v1:...")
};
using Command = std::variant<UpdateProfile, SetAvailability, RequestSession, ChangeSession,
                             AdminDecision, SubmitReview>;

// The command types this aggregate handles (COMMON "Commands").
bool handles_command(std::string_view command_type);
Expected<Command, Rejection> parse_command(std::string_view command_type, const json::Value& data);

Expected<std::vector<Event>, Rejection> decide(const State& s, const Command& c, const Actor& actor,
                                               Timestamp now);
// Tolerant of redelivery: a repeated request or a transition the state already passed is a no-op.
void evolve(State& s, const Event& e);

// Writes each type's latest version (2 for session.declined and session.cancelled, else 1).
NewEvent encode(const Event& e);
// Reads every version the log may hold: v1 session.declined/session.cancelled upcast to the
// same structs, their clear-text reason kept as logged.
std::optional<Event> decode(std::string_view type, int version, const json::Value& data);

// ---- views (JSON text for api responses and command result bodies) ----
// {id, counselor_id, client_id, start, end, duration_minutes, topic, mode, status,
//  late_cancellation, cancelled_by, cancellation_reason}; cancellation_reason also carries a
// decline's reason, as the event holds it (sealed); topic is null (not kept, see Session).
// "null" if the session is unknown.
std::string session_view_json(const State& s, const SessionId& id);
// {id, specialties, languages, level, bio, credentials, verified}
std::string profile_view_json(const State& s);
// {counselor_id, time_zone (null if never set), weekly, buffer_minutes, min_notice_minutes,
//  overrides}
std::string availability_view_json(const State& s);
// {id, counselor_id, session_id, client_id, rating} of the session's review; "null" if the
// session is unknown or not reviewed.
std::string review_view_json(const State& s, const SessionId& session_id);

}  // namespace counsel::counselor
