#include "domain/aggregates/counselor.hpp"

#include "domain/aggregates/field_rules.hpp"

namespace counsel::counselor {
namespace {

constexpr const char* kInvalidCommand = "invalid_command";
constexpr size_t kMaxLabelsPerList = 20;
constexpr size_t kMaxLabelChars = 64;
constexpr size_t kMaxLevelChars = 40;
constexpr size_t kMaxBioChars = 4000;
constexpr size_t kMaxCredentialsChars = 2000;
constexpr size_t kMaxTopicChars = 4000;  // the topic may arrive as ciphertext
constexpr std::string_view kSealedPrefix = "enc:v1:";

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

Rejection reject(RejectionKind kind, std::string code, std::string message) {
  return Rejection{kind, std::move(code), std::move(message)};
}

bool is_profile_owner(const State& s, const Actor& actor) {
  // The system role is the ops tools (demo data, migrations), trusted like the owner.
  return actor.role == Role::system ||
         (actor.role == Role::counselor && actor.id == s.counselor_id);
}

bool is_session_counselor(const State& s, const Actor& actor) {
  return actor.role == Role::counselor && actor.id == s.counselor_id;
}

bool is_session_client(const Session& session, const Actor& actor) {
  return actor.role == Role::client && actor.id == session.client_id;
}

std::optional<SessionStatus> next_status(SessionStatus from, SessionAction action) {
  using S = SessionStatus;
  switch (action) {
    case SessionAction::confirm:
      return from == S::requested ? std::optional(S::confirmed) : std::nullopt;
    case SessionAction::decline:
      return from == S::requested ? std::optional(S::declined) : std::nullopt;
    case SessionAction::cancel:
      return is_active(from) ? std::optional(S::cancelled) : std::nullopt;
    case SessionAction::complete:
      return from == S::confirmed ? std::optional(S::completed) : std::nullopt;
    case SessionAction::no_show:
      return from == S::confirmed ? std::optional(S::no_show) : std::nullopt;
  }
  return std::nullopt;
}

const char* action_name(SessionAction a) {
  switch (a) {
    case SessionAction::confirm:
      return "confirm";
    case SessionAction::decline:
      return "decline";
    case SessionAction::complete:
      return "complete";
    case SessionAction::no_show:
      return "mark as no-show";
    case SessionAction::cancel:
      return "cancel";
  }
  return "change";
}

Expected<std::vector<Event>, Rejection> decide_admin(const State& s, const AdminDecision& c,
                                                     const Actor& actor) {
  if (actor.role != Role::admin && actor.role != Role::system)
    return unexpected(reject(RejectionKind::forbidden, "admin_only",
                             "only an admin may verify, suspend or reinstate a counsellor"));
  // Idempotent: the state asked for, if already reached, changes nothing.
  switch (c.action) {
    case AdminAction::verify:
      if (s.verified) return std::vector<Event>{};
      return std::vector<Event>{CounselorVerified{s.counselor_id}};
    case AdminAction::suspend:
      if (s.suspended) return std::vector<Event>{};
      return std::vector<Event>{CounselorSuspended{s.counselor_id}};
    case AdminAction::reinstate:
      if (!s.suspended) return std::vector<Event>{};
      return std::vector<Event>{CounselorReinstated{s.counselor_id}};
  }
  return std::vector<Event>{};
}

template <class E>
std::string admin_data(const E& e) {
  fields::DataBuilder b;
  b.id("counselor_id", e.counselor_id.value());
  return b.canonical();
}

Expected<std::vector<Event>, Rejection> decide_request(const State& s, const RequestSession& c,
                                                       const Actor& actor, Timestamp now) {
  if (actor.role != Role::client || actor.id != c.client_id)
    return unexpected(reject(RejectionKind::forbidden, "not_session_client",
                             "only the client named in the request may book it"));
  if (!s.verified)
    return unexpected(reject(RejectionKind::unprocessable, "counselor_not_verified",
                             "this counsellor is not verified yet and cannot be booked"));
  if (s.suspended)
    return unexpected(reject(RejectionKind::unprocessable, "counselor_suspended",
                             "this counsellor is suspended and cannot be booked"));
  if (s.sessions.contains(c.session_id))
    return unexpected(
        reject(RejectionKind::conflict, "session_exists", "a session with this id already exists"));
  calendar::Interval wanted{c.start, c.start + std::chrono::minutes{c.duration_minutes}};
  static const calendar::Availability kNone{};
  const auto& availability = s.availability ? *s.availability : kNone;
  switch (calendar::check_slot(availability, s.active, wanted, now)) {
    case calendar::SlotProblem::none:
      break;
    case calendar::SlotProblem::in_past:
      return unexpected(
          reject(RejectionKind::unprocessable, "in_past", "the start is in the past"));
    case calendar::SlotProblem::too_soon:
      return unexpected(reject(RejectionKind::unprocessable, "too_soon",
                               "the counsellor needs at least " +
                                   std::to_string(availability.min_notice_minutes) +
                                   " minutes' notice"));
    case calendar::SlotProblem::outside_availability:
      return unexpected(reject(RejectionKind::unprocessable, "outside_availability",
                               "the session is not inside one of the counsellor's availability "
                               "windows"));
    case calendar::SlotProblem::overlaps:
      return unexpected(reject(RejectionKind::conflict, "slot_unavailable",
                               "the counsellor already has a session at that time"));
  }
  return std::vector<Event>{SessionRequested{c.session_id, s.counselor_id, c.client_id,
                                             wanted.start, wanted.end, c.duration_minutes, c.topic,
                                             c.mode}};
}

Expected<std::vector<Event>, Rejection> decide_change(const State& s, const ChangeSession& c,
                                                      const Actor& actor, Timestamp now) {
  auto it = s.sessions.find(c.session_id);
  if (it == s.sessions.end())
    return unexpected(reject(RejectionKind::not_found, "session_not_found", "no such session"));
  const Session& session = it->second;
  if (c.action == SessionAction::cancel) {
    if (!is_session_client(session, actor) && !is_session_counselor(s, actor))
      return unexpected(reject(RejectionKind::forbidden, "not_session_participant",
                               "only the session's client or counsellor may cancel it"));
  } else if (!is_session_counselor(s, actor)) {
    return unexpected(
        reject(RejectionKind::forbidden, "not_session_counselor",
               std::string("only the session's counsellor may ") + action_name(c.action) + " it"));
  }
  if (!next_status(session.status, c.action))
    return unexpected(reject(RejectionKind::conflict, "invalid_transition",
                             std::string("cannot ") + action_name(c.action) +
                                 " a session that is " + to_string(session.status)));
  const auto& sid = session.session_id;
  const auto& cid = s.counselor_id;
  const auto& client = session.client_id;
  switch (c.action) {
    case SessionAction::confirm:
      return std::vector<Event>{SessionConfirmed{sid, cid, client}};
    case SessionAction::decline:
      return std::vector<Event>{SessionDeclined{sid, cid, client, c.reason}};
    case SessionAction::complete:
      return std::vector<Event>{SessionCompleted{sid, cid, client}};
    case SessionAction::no_show:
      return std::vector<Event>{SessionNoShow{sid, cid, client}};
    case SessionAction::cancel: {
      bool late = session.start - now < kLateCancellationWindow;
      return std::vector<Event>{SessionCancelled{sid, cid, client, actor.id, c.reason, late}};
    }
  }
  return unexpected(reject(RejectionKind::invalid, kInvalidCommand, "unknown session action"));
}

// Looked up by session first: a session of another counsellor is simply not in this stream.
Expected<std::vector<Event>, Rejection> decide_review(const State& s, const SubmitReview& c,
                                                      const Actor& actor) {
  auto it = s.sessions.find(c.session_id);
  if (it == s.sessions.end())
    return unexpected(reject(RejectionKind::not_found, "session_not_found",
                             "this counsellor has no such session"));
  const Session& session = it->second;
  if (!is_session_client(session, actor))
    return unexpected(reject(RejectionKind::forbidden, "not_session_client",
                             "only the session's client may review it"));
  if (session.review)
    return unexpected(reject(RejectionKind::conflict, "already_reviewed",
                             "this session has already been reviewed"));
  if (session.status != SessionStatus::completed)
    return unexpected(reject(RejectionKind::unprocessable, "session_not_completed",
                             std::string("only a completed session can be reviewed; this one is ") +
                                 to_string(session.status)));
  return std::vector<Event>{ReviewSubmitted{c.review_id, c.session_id, s.counselor_id,
                                            session.client_id, c.rating, c.comment}};
}

// Moves a session out of the calendar when it leaves requested/confirmed.
void set_status(State& s, Session& session, SessionStatus to) {
  if (is_active(session.status) && !is_active(to))
    s.active.remove(calendar::Interval{session.start, session.end});
  session.status = to;
}

Session* find_session(State& s, const SessionId& id) {
  auto it = s.sessions.find(id);
  return it == s.sessions.end() ? nullptr : &it->second;
}

// --- codecs ---
// The version encode writes: a type's own `version` if it has one (a later version of it).
template <class T>
constexpr int version_of() {
  if constexpr (requires { T::version; })
    return T::version;
  else
    return 1;
}

// The reason of a decline or cancellation. v1 carried clear text, read back as logged (the log is
// immutable); from v2 on it is "" or sealed with the client's key, anything else is malformed.
std::optional<std::string> decode_reason(const json::Value& d, int version) {
  auto reason = json::get_string(d, "reason");
  if (!reason) return std::nullopt;
  if (version >= 2 && !reason->empty() && !reason->starts_with(kSealedPrefix)) return std::nullopt;
  return std::string(*reason);
}

template <class T>
std::optional<T> decode_participants(const json::Value& d) {
  fields::Reader r{d, "invalid_event"};
  auto sid = r.uuid("session_id");
  auto cid = r.uuid("counselor_id");
  auto client = r.uuid("client_id");
  if (!sid || !cid || !client) return std::nullopt;
  T e;
  e.session_id = SessionId{*sid};
  e.counselor_id = UserId{*cid};
  e.client_id = UserId{*client};
  return e;
}

template <class T>
fields::DataBuilder participants(const T& e) {
  fields::DataBuilder b;
  b.id("session_id", e.session_id.value())
      .id("counselor_id", e.counselor_id.value())
      .id("client_id", e.client_id.value());
  return b;
}

void write_session(json::Writer& w, const State& s, const Session& x) {
  w.StartObject();
  json::key(w, "cancellation_reason");
  if (x.reason)
    json::write_string(w, *x.reason);
  else
    w.Null();
  json::key(w, "cancelled_by");
  if (x.cancelled_by)
    json::write_string(w, x.cancelled_by->value().str());
  else
    w.Null();
  json::key(w, "client_id");
  json::write_string(w, x.client_id.value().str());
  json::key(w, "counselor_id");
  json::write_string(w, s.counselor_id.value().str());
  json::key(w, "duration_minutes");
  w.Int(x.duration_minutes);
  json::key(w, "end");
  json::write_string(w, format_rfc3339(x.end));
  json::key(w, "id");
  json::write_string(w, x.session_id.value().str());
  json::key(w, "late_cancellation");
  w.Bool(x.late_cancellation);
  json::key(w, "mode");
  json::write_string(w, to_string(x.mode));
  json::key(w, "start");
  json::write_string(w, format_rfc3339(x.start));
  json::key(w, "status");
  json::write_string(w, to_string(x.status));
  json::key(w, "topic");
  w.Null();  // not kept (see Session); the api fills in a booking's own
  w.EndObject();
}

void write_strings(json::Writer& w, const std::vector<std::string>& values) {
  w.StartArray();
  for (auto& v : values) json::write_string(w, v);
  w.EndArray();
}

}  // namespace

const char* to_string(SessionStatus s) {
  switch (s) {
    case SessionStatus::requested:
      return "requested";
    case SessionStatus::confirmed:
      return "confirmed";
    case SessionStatus::declined:
      return "declined";
    case SessionStatus::cancelled:
      return "cancelled";
    case SessionStatus::completed:
      return "completed";
    case SessionStatus::no_show:
      return "no_show";
  }
  return "requested";
}

bool is_active(SessionStatus s) {
  return s == SessionStatus::requested || s == SessionStatus::confirmed;
}

const char* to_string(SessionMode m) {
  switch (m) {
    case SessionMode::chat:
      return "chat";
    case SessionMode::video:
      return "video";
    case SessionMode::in_person:
      return "in_person";
  }
  return "chat";
}

std::optional<SessionMode> parse_session_mode(std::string_view s) {
  if (s == "chat") return SessionMode::chat;
  if (s == "video") return SessionMode::video;
  if (s == "in_person") return SessionMode::in_person;
  return std::nullopt;
}

std::string_view event_type(const Event& e) {
  return std::visit([](const auto& x) -> std::string_view { return x.type; }, e);
}

State initial_state(const UserId& counselor_id) {
  State s;
  s.counselor_id = counselor_id;
  return s;
}

bool handles_command(std::string_view t) {
  return t == "counselor.update_profile" || t == "counselor.set_availability" ||
         t == "session.request" || t == "session.confirm" || t == "session.decline" ||
         t == "session.complete" || t == "session.mark_no_show" || t == "session.cancel" ||
         t == "counselor.verify" || t == "counselor.suspend" || t == "counselor.reinstate" ||
         t == "review.submit";
}

Expected<Command, Rejection> parse_command(std::string_view type, const json::Value& data) {
  if (!data.IsObject())
    return unexpected(reject(RejectionKind::invalid, kInvalidCommand, "expected a JSON object"));
  fields::Reader r{data, kInvalidCommand};

  if (type == "counselor.update_profile") {
    auto specialties = r.labels("specialties", 1, kMaxLabelsPerList, kMaxLabelChars);
    if (!specialties) return unexpected(specialties.error());
    auto languages = r.labels("languages", 1, kMaxLabelsPerList, kMaxLabelChars);
    if (!languages) return unexpected(languages.error());
    auto level = r.label("level", kMaxLevelChars);
    if (!level) return unexpected(level.error());
    auto bio = r.string("bio", kMaxBioChars, "");
    if (!bio) return unexpected(bio.error());
    auto credentials = r.string("credentials", kMaxCredentialsChars, "");
    if (!credentials) return unexpected(credentials.error());
    return Command{UpdateProfile{std::move(*specialties), std::move(*languages), std::move(*level),
                                 std::move(*bio), std::move(*credentials)}};
  }
  if (type == "counselor.verify") return Command{AdminDecision{AdminAction::verify}};
  if (type == "counselor.suspend") return Command{AdminDecision{AdminAction::suspend}};
  if (type == "counselor.reinstate") return Command{AdminDecision{AdminAction::reinstate}};
  if (type == "counselor.set_availability") {
    auto a = calendar::parse_availability(data);
    if (!a) return unexpected(a.error());
    return Command{SetAvailability{std::move(*a)}};
  }
  if (type == "session.request") {
    auto sid = r.uuid("session_id");
    if (!sid) return unexpected(sid.error());
    auto client = r.uuid("client_id");
    if (!client) return unexpected(client.error());
    auto start = r.timestamp("start");
    if (!start) return unexpected(start.error());
    auto duration = r.integer("duration_minutes", kMinDurationMinutes, kMaxDurationMinutes);
    if (!duration) return unexpected(duration.error());
    auto topic = r.string("topic", kMaxTopicChars, "");
    if (!topic) return unexpected(topic.error());
    auto mode_text = json::get_string(data, "mode");
    auto mode = mode_text ? parse_session_mode(*mode_text) : std::nullopt;
    if (!mode) return unexpected(r.fail("mode", "expected one of chat, video, in_person"));
    return Command{RequestSession{SessionId{*sid}, UserId{*client}, *start,
                                  static_cast<int>(*duration), std::move(*topic), *mode}};
  }
  if (type == "review.submit") {
    auto review_id = r.uuid("review_id");
    if (!review_id) return unexpected(review_id.error());
    auto sid = r.uuid("session_id");
    if (!sid) return unexpected(sid.error());
    auto rating = r.integer("rating", kMinRating, kMaxRating);
    if (!rating) return unexpected(rating.error());
    auto comment = r.string("comment", kMaxReviewCommentChars, "");
    if (!comment) return unexpected(comment.error());
    // Clear text must never reach the log, which keeps it forever.
    if (!comment->empty() && !comment->starts_with(kSealedPrefix))
      return unexpected(r.fail("comment", "expected \"\" or a sealed (enc:v1:) value"));
    return Command{SubmitReview{ReviewId{*review_id}, SessionId{*sid}, static_cast<int>(*rating),
                                std::move(*comment)}};
  }
  std::optional<SessionAction> action;
  if (type == "session.confirm") action = SessionAction::confirm;
  if (type == "session.decline") action = SessionAction::decline;
  if (type == "session.complete") action = SessionAction::complete;
  if (type == "session.mark_no_show") action = SessionAction::no_show;
  if (type == "session.cancel") action = SessionAction::cancel;
  if (action) {
    auto sid = r.uuid("session_id");
    if (!sid) return unexpected(sid.error());
    auto reason = r.string("reason", kMaxSealedReasonChars, "");
    if (!reason) return unexpected(reason.error());
    // The reason may describe the client's health: clear text must never reach the log.
    if (!reason->empty() && !reason->starts_with(kSealedPrefix))
      return unexpected(r.fail("reason", "expected \"\" or a sealed (enc:v1:) value"));
    return Command{ChangeSession{*action, SessionId{*sid}, std::move(*reason)}};
  }
  return unexpected(reject(RejectionKind::invalid, "unknown_command",
                           "the counselor aggregate does not handle " + std::string(type)));
}

Expected<std::vector<Event>, Rejection> decide(const State& s, const Command& command,
                                               const Actor& actor, Timestamp now) {
  if (s.counselor_id.value().is_nil())
    return unexpected(
        reject(RejectionKind::invalid, "invalid_stream", "the stream does not name a counsellor"));
  return std::visit(
      overloaded{
          [&](const UpdateProfile& c) -> Expected<std::vector<Event>, Rejection> {
            if (!is_profile_owner(s, actor))
              return unexpected(reject(RejectionKind::forbidden, "not_profile_owner",
                                       "only the counsellor may update this profile"));
            return std::vector<Event>{ProfileUpdated{s.counselor_id, c.specialties, c.languages,
                                                     c.level, c.bio, c.credentials}};
          },
          [&](const AdminDecision& c) { return decide_admin(s, c, actor); },
          [&](const SetAvailability& c) -> Expected<std::vector<Event>, Rejection> {
            if (!is_profile_owner(s, actor))
              return unexpected(reject(RejectionKind::forbidden, "not_profile_owner",
                                       "only the counsellor may set this availability"));
            return std::vector<Event>{AvailabilitySet{s.counselor_id, c.availability}};
          },
          [&](const RequestSession& c) { return decide_request(s, c, actor, now); },
          [&](const ChangeSession& c) { return decide_change(s, c, actor, now); },
          [&](const SubmitReview& c) { return decide_review(s, c, actor); },
      },
      command);
}

void evolve(State& s, const Event& event) {
  std::visit(
      overloaded{
          [&](const ProfileUpdated& e) {
            s.profile = Profile{e.specialties, e.languages, e.level, e.bio, e.credentials, true};
          },
          [&](const CounselorVerified&) { s.verified = true; },
          [&](const CounselorSuspended&) { s.suspended = true; },
          [&](const CounselorReinstated&) { s.suspended = false; },
          [&](const AvailabilitySet& e) { s.availability = e.availability; },
          [&](const SessionRequested& e) {
            if (s.sessions.contains(e.session_id)) return;  // redelivered
            Session x;
            x.session_id = e.session_id;
            x.client_id = e.client_id;
            x.start = e.start;
            x.end = e.end;
            x.duration_minutes = e.duration_minutes;
            x.mode = e.mode;
            s.sessions.emplace(e.session_id, std::move(x));
            s.active.add(calendar::Interval{e.start, e.end});
          },
          [&](const SessionConfirmed& e) {
            if (auto* x = find_session(s, e.session_id); x && x->status == SessionStatus::requested)
              set_status(s, *x, SessionStatus::confirmed);
          },
          [&](const SessionDeclined& e) {
            if (auto* x = find_session(s, e.session_id);
                x && x->status == SessionStatus::requested) {
              set_status(s, *x, SessionStatus::declined);
              x->reason = e.reason;
            }
          },
          [&](const SessionCancelled& e) {
            if (auto* x = find_session(s, e.session_id); x && is_active(x->status)) {
              set_status(s, *x, SessionStatus::cancelled);
              x->late_cancellation = e.late;
              x->cancelled_by = e.cancelled_by;
              x->reason = e.reason;
            }
          },
          [&](const SessionCompleted& e) {
            if (auto* x = find_session(s, e.session_id); x && x->status == SessionStatus::confirmed)
              set_status(s, *x, SessionStatus::completed);
          },
          [&](const SessionNoShow& e) {
            if (auto* x = find_session(s, e.session_id); x && x->status == SessionStatus::confirmed)
              set_status(s, *x, SessionStatus::no_show);
          },
          [&](const ReviewSubmitted& e) {
            // The first review stands: a redelivered one changes nothing.
            if (auto* x = find_session(s, e.session_id); x && !x->review)
              x->review = SubmittedReview{e.review_id, e.rating};
          },
      },
      event);
}

NewEvent encode(const Event& event) {
  auto data = std::visit(overloaded{
                             [](const ProfileUpdated& e) {
                               fields::DataBuilder b;
                               b.id("counselor_id", e.counselor_id.value())
                                   .strings("specialties", e.specialties)
                                   .strings("languages", e.languages)
                                   .string("level", e.level)
                                   .string("bio", e.bio);
                               // Absent when empty: the events written before it existed
                               // and the ones after read the same.
                               if (!e.credentials.empty()) b.string("credentials", e.credentials);
                               return b.canonical();
                             },
                             [](const CounselorVerified& e) { return admin_data(e); },
                             [](const CounselorSuspended& e) { return admin_data(e); },
                             [](const CounselorReinstated& e) { return admin_data(e); },
                             [](const AvailabilitySet& e) {
                               auto doc =
                                   json::parse(calendar::availability_to_json(e.availability));
                               fields::DataBuilder b;
                               b.id("counselor_id", e.counselor_id.value());
                               if (doc) b.merge(*doc);
                               return b.canonical();
                             },
                             [](const SessionRequested& e) {
                               auto b = participants(e);
                               b.string("start", format_rfc3339(e.start))
                                   .string("end", format_rfc3339(e.end))
                                   .integer("duration_minutes", e.duration_minutes)
                                   .string("topic", e.topic)
                                   .string("mode", to_string(e.mode));
                               return b.canonical();
                             },
                             [](const SessionDeclined& e) {
                               auto b = participants(e);
                               b.string("reason", e.reason);
                               return b.canonical();
                             },
                             [](const SessionCancelled& e) {
                               auto b = participants(e);
                               b.id("cancelled_by", e.cancelled_by.value())
                                   .string("reason", e.reason)
                                   .boolean("late", e.late);
                               return b.canonical();
                             },
                             [](const ReviewSubmitted& e) {
                               auto b = participants(e);
                               b.id("review_id", e.review_id.value())
                                   .integer("rating", e.rating)
                                   .string("comment", e.comment);
                               return b.canonical();
                             },
                             [](const auto& e) { return participants(e).canonical(); },
                         },
                         event);
  const int version =
      std::visit([](const auto& e) { return version_of<std::decay_t<decltype(e)>>(); }, event);
  return NewEvent{std::string(event_type(event)), version, std::move(data)};
}

std::optional<Event> decode(std::string_view type, int version, const json::Value& d) {
  if (!d.IsObject()) return std::nullopt;
  // Every version up to the latest; v1 of session.declined and session.cancelled is upcast
  // where their reason is read (decode_reason).
  const int latest = type == SessionDeclined::type    ? version_of<SessionDeclined>()
                     : type == SessionCancelled::type ? version_of<SessionCancelled>()
                                                      : 1;
  if (version < 1 || version > latest) return std::nullopt;
  fields::Reader r{d, "invalid_event"};
  if (type == ProfileUpdated::type) {
    auto cid = r.uuid("counselor_id");
    auto specialties = json::get_string_array(d, "specialties");
    auto languages = json::get_string_array(d, "languages");
    auto level = json::get_string(d, "level");
    auto bio = json::get_string(d, "bio");
    auto credentials = r.string("credentials", kMaxCredentialsChars, "");
    if (!cid || !specialties || !languages || !level || !bio || !credentials) return std::nullopt;
    return ProfileUpdated{UserId{*cid},        std::move(*specialties), std::move(*languages),
                          std::string(*level), std::string(*bio),       std::move(*credentials)};
  }
  if (type == CounselorVerified::type || type == CounselorSuspended::type ||
      type == CounselorReinstated::type) {
    auto cid = r.uuid("counselor_id");
    if (!cid) return std::nullopt;
    if (type == CounselorVerified::type) return CounselorVerified{UserId{*cid}};
    if (type == CounselorSuspended::type) return CounselorSuspended{UserId{*cid}};
    return CounselorReinstated{UserId{*cid}};
  }
  if (type == AvailabilitySet::type) {
    auto cid = r.uuid("counselor_id");
    auto a = calendar::parse_availability(d);
    if (!cid || !a) return std::nullopt;
    return AvailabilitySet{UserId{*cid}, std::move(*a)};
  }
  if (type == SessionRequested::type) {
    auto e = decode_participants<SessionRequested>(d);
    auto start = r.timestamp("start");
    auto end = r.timestamp("end");
    auto duration = json::get_int(d, "duration_minutes");
    auto topic = json::get_string(d, "topic");
    auto mode_text = json::get_string(d, "mode");
    auto mode = mode_text ? parse_session_mode(*mode_text) : std::nullopt;
    if (!e || !start || !end || !duration || !topic || !mode) return std::nullopt;
    e->start = *start;
    e->end = *end;
    e->duration_minutes = static_cast<int>(*duration);
    e->topic = std::string(*topic);
    e->mode = *mode;
    return *e;
  }
  if (type == SessionConfirmed::type) {
    if (auto e = decode_participants<SessionConfirmed>(d)) return *e;
    return std::nullopt;
  }
  if (type == SessionCompleted::type) {
    if (auto e = decode_participants<SessionCompleted>(d)) return *e;
    return std::nullopt;
  }
  if (type == SessionNoShow::type) {
    if (auto e = decode_participants<SessionNoShow>(d)) return *e;
    return std::nullopt;
  }
  if (type == SessionDeclined::type) {
    auto e = decode_participants<SessionDeclined>(d);
    auto reason = decode_reason(d, version);
    if (!e || !reason) return std::nullopt;
    e->reason = std::move(*reason);
    return *e;
  }
  if (type == SessionCancelled::type) {
    auto e = decode_participants<SessionCancelled>(d);
    auto by = r.uuid("cancelled_by");
    auto reason = decode_reason(d, version);
    auto late = json::get_bool(d, "late");
    if (!e || !by || !reason || !late) return std::nullopt;
    e->cancelled_by = UserId{*by};
    e->reason = std::move(*reason);
    e->late = *late;
    return *e;
  }
  if (type == ReviewSubmitted::type) {
    auto e = decode_participants<ReviewSubmitted>(d);
    auto review_id = r.uuid("review_id");
    auto rating = r.integer("rating", kMinRating, kMaxRating);
    auto comment = json::get_string(d, "comment");
    if (!e || !review_id || !rating || !comment) return std::nullopt;
    e->review_id = ReviewId{*review_id};
    e->rating = static_cast<int>(*rating);
    e->comment = std::string(*comment);
    return *e;
  }
  return std::nullopt;
}

std::string session_view_json(const State& s, const SessionId& id) {
  auto it = s.sessions.find(id);
  if (it == s.sessions.end()) return "null";
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  write_session(w, s, it->second);
  return {sb.GetString(), sb.GetSize()};
}

std::string profile_view_json(const State& s) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "bio");
  json::write_string(w, s.profile.bio);
  json::key(w, "credentials");
  json::write_string(w, s.profile.credentials);
  json::key(w, "id");
  json::write_string(w, s.counselor_id.value().str());
  json::key(w, "languages");
  write_strings(w, s.profile.languages);
  json::key(w, "level");
  json::write_string(w, s.profile.level);
  json::key(w, "specialties");
  write_strings(w, s.profile.specialties);
  json::key(w, "suspended");
  w.Bool(s.suspended);
  json::key(w, "verified");
  w.Bool(s.verified);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

std::string review_view_json(const State& s, const SessionId& session_id) {
  auto it = s.sessions.find(session_id);
  if (it == s.sessions.end() || !it->second.review) return "null";
  const Session& session = it->second;
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "client_id");
  json::write_string(w, session.client_id.value().str());
  json::key(w, "counselor_id");
  json::write_string(w, s.counselor_id.value().str());
  json::key(w, "id");
  json::write_string(w, session.review->review_id.value().str());
  json::key(w, "rating");
  w.Int(session.review->rating);
  json::key(w, "session_id");
  json::write_string(w, session_id.value().str());
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

std::string availability_view_json(const State& s) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  if (s.availability) {
    // write_availability_members emits buffer_minutes first; counselor_id sorts after it, so
    // this view is readable rather than canonical.
    calendar::write_availability_members(w, *s.availability);
  } else {
    json::key(w, "buffer_minutes");
    w.Int(0);
    json::key(w, "min_notice_minutes");
    w.Int(0);
    json::key(w, "overrides");
    w.StartArray();
    w.EndArray();
    json::key(w, "time_zone");
    w.Null();
    json::key(w, "weekly");
    w.StartArray();
    w.EndArray();
  }
  json::key(w, "counselor_id");
  json::write_string(w, s.counselor_id.value().str());
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace counsel::counselor
