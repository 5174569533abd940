#include "domain/aggregates/access.hpp"

#include <array>
#include <utility>

#include "domain/aggregates/field_rules.hpp"

namespace counsel::access {
namespace {

constexpr const char* kInvalidCommand = "invalid_command";
constexpr const char* kInvalidEvent = "invalid_event";
// User ids, "p_xxxxxx" patient ids, session and room ids all fit.
constexpr size_t kMaxResourceIdChars = 64;

constexpr std::array<std::pair<Resource, const char*>, 5> kResources{{
    {Resource::user_profile, "user_profile"},
    {Resource::client_profile, "client_profile"},
    {Resource::patient_record, "patient_record"},
    {Resource::session, "session"},
    {Resource::chat_history, "chat_history"},
}};
constexpr std::array<std::pair<Basis, const char*>, 4> kBases{{
    {Basis::care_relationship, "care_relationship"},
    {Basis::administration, "administration"},
    {Basis::identity_reveal, "identity_reveal"},
    {Basis::directory, "directory"},
}};

Rejection reject(RejectionKind kind, std::string code, std::string message) {
  return Rejection{kind, std::move(code), std::move(message)};
}

Expected<Recorded, Rejection> read_record(const json::Value& data, const char* code) {
  if (!data.IsObject())
    return unexpected(reject(RejectionKind::invalid, code, "expected a JSON object"));
  fields::Reader r{data, code};
  auto subject = r.uuid("subject_id");
  if (!subject) return unexpected(subject.error());
  auto what_text = json::get_string(data, "what");
  auto what = what_text ? resource_from_string(*what_text) : std::nullopt;
  if (!what) return unexpected(r.fail("what", "expected a kind of record"));
  auto resource = r.label("resource_id", kMaxResourceIdChars);
  if (!resource) return unexpected(resource.error());
  auto why_text = json::get_string(data, "why");
  auto why = why_text ? basis_from_string(*why_text) : std::nullopt;
  if (!why) return unexpected(r.fail("why", "expected an access basis"));
  return Recorded{UserId{*subject}, *what, std::move(*resource), *why};
}

}  // namespace

const char* to_string(Resource r) {
  for (const auto& [value, name] : kResources)
    if (value == r) return name;
  return "user_profile";
}

std::optional<Resource> resource_from_string(std::string_view text) {
  for (const auto& [value, name] : kResources)
    if (text == name) return value;
  return std::nullopt;
}

const char* to_string(Basis b) {
  for (const auto& [value, name] : kBases)
    if (value == b) return name;
  return "directory";
}

std::optional<Basis> basis_from_string(std::string_view text) {
  for (const auto& [value, name] : kBases)
    if (text == name) return value;
  return std::nullopt;
}

std::string_view event_type(const Event& e) {
  return std::visit([](const auto& x) -> std::string_view { return x.type; }, e);
}

State initial_state(const UserId& subject) {
  State s;
  s.subject_id = subject;
  return s;
}

bool handles_command(std::string_view t) {
  return t == "access.record";
}

Expected<Command, Rejection> parse_command(std::string_view type, const json::Value& data) {
  if (type != "access.record")
    return unexpected(reject(RejectionKind::invalid, "unknown_command",
                             "the access aggregate does not handle " + std::string(type)));
  auto record = read_record(data, kInvalidCommand);
  if (!record) return unexpected(record.error());
  return Command{RecordAccess{std::move(*record)}};
}

Expected<std::vector<Event>, Rejection> decide(const State& s, const Command& c, const Actor& actor,
                                               Timestamp) {
  if (s.subject_id.value().is_nil())
    return unexpected(
        reject(RejectionKind::invalid, "invalid_stream", "an access stream is access-<user id>"));
  const auto& record = std::get<RecordAccess>(c).record;
  if (record.subject_id != s.subject_id)
    return unexpected(reject(RejectionKind::invalid, kInvalidCommand,
                             "subject_id must be the user the stream belongs to"));
  // Reading one's own data is not an access to record; the api never asks for it.
  if (actor.id == record.subject_id)
    return unexpected(reject(RejectionKind::invalid, "own_record",
                             "reading one's own data is not recorded as an access"));
  return std::vector<Event>{record};
}

void evolve(State& s, const Event&) {
  ++s.records;
}

NewEvent encode(const Event& e) {
  const auto& r = std::get<Recorded>(e);
  fields::DataBuilder b;
  b.id("subject_id", r.subject_id.value())
      .string("what", to_string(r.what))
      .string("resource_id", r.resource_id)
      .string("why", to_string(r.why));
  return NewEvent{std::string(event_type(e)), 1, b.canonical()};
}

std::optional<Event> decode(std::string_view type, int version, const json::Value& data) {
  if (version != 1 || type != Recorded::type) return std::nullopt;
  auto record = read_record(data, kInvalidEvent);
  if (!record) return std::nullopt;
  return Event{std::move(*record)};
}

std::string access_view_json(const State& s) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "records");
  w.Int64(s.records);
  json::key(w, "subject_id");
  json::write_string(w, s.subject_id.value().str());
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace counsel::access
