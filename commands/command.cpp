#include "commands/command.hpp"

#include "domain/json.hpp"

namespace counsel::commands {
namespace {
template <class Id>
bool read_id(const json::Value& obj, const char* key, Id& out) {
  auto s = json::get_string(obj, key);
  if (!s) return false;
  auto u = Uuid::parse(*s);
  if (!u) return false;
  out = Id{*u};
  return true;
}
}  // namespace

std::string encode_command(const Command& c) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "actor");
  w.StartObject();
  json::key(w, "id");
  json::write_string(w, c.actor.id.value().str());
  json::key(w, "role");
  json::write_string(w, to_string(c.actor.role));
  w.EndObject();
  json::key(w, "correlation_id");
  json::write_string(w, c.correlation_id.value().str());
  json::key(w, "data");
  w.RawValue(c.data_json.data(), c.data_json.size(), rapidjson::kObjectType);
  json::key(w, "id");
  json::write_string(w, c.id.value().str());
  json::key(w, "issued_at");
  json::write_string(w, format_rfc3339(c.issued_at));
  json::key(w, "stream");
  json::write_string(w, c.stream);
  json::key(w, "type");
  json::write_string(w, c.type);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

std::optional<Command> decode_command(std::string_view text, std::string* error) {
  auto fail = [&](const char* why) -> std::optional<Command> {
    if (error) *error = why;
    return std::nullopt;
  };
  auto doc = json::parse(text, nullptr, 64);
  if (!doc || !doc->IsObject()) return fail("command is not a JSON object");
  Command c;
  if (!read_id(*doc, "id", c.id)) return fail("bad command id");
  if (!read_id(*doc, "correlation_id", c.correlation_id)) return fail("bad correlation id");
  auto type = json::get_string(*doc, "type");
  auto stream = json::get_string(*doc, "stream");
  auto issued = json::get_string(*doc, "issued_at");
  auto* actor = json::get_object(*doc, "actor");
  auto* data = json::get_object(*doc, "data");
  if (!type || !stream || !issued || !actor || !data) return fail("missing command field");
  auto at = parse_rfc3339(*issued);
  auto role = json::get_string(*actor, "role");
  if (!at || !role || !parse_role(*role) || !read_id(*actor, "id", c.actor.id))
    return fail("bad command field");
  c.type = *type;
  c.stream = *stream;
  c.issued_at = *at;
  c.actor.role = *parse_role(*role);
  c.data_json = json::to_string(*data);
  return c;
}

std::string encode_result(const CommandResult& r) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "accepted");
  w.Bool(r.accepted);
  json::key(w, "body");
  w.RawValue(r.body_json.data(), r.body_json.size(), rapidjson::kObjectType);
  json::key(w, "command_id");
  json::write_string(w, r.command_id.value().str());
  json::key(w, "duplicate");
  w.Bool(r.duplicate);
  json::key(w, "events");
  w.StartArray();
  for (auto& p : r.event_positions) {
    w.StartArray();
    w.Int(p.partition.value());
    w.Int64(p.offset.value());
    w.EndArray();
  }
  w.EndArray();
  if (r.rejection) {
    json::key(w, "rejection");
    w.StartObject();
    json::key(w, "code");
    json::write_string(w, r.rejection->code);
    json::key(w, "kind");
    json::write_string(w, to_string(r.rejection->kind));
    json::key(w, "message");
    json::write_string(w, r.rejection->message);
    w.EndObject();
  }
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

std::optional<CommandResult> decode_result(std::string_view text, std::string* error) {
  auto fail = [&](const char* why) -> std::optional<CommandResult> {
    if (error) *error = why;
    return std::nullopt;
  };
  auto doc = json::parse(text, nullptr, 64);
  if (!doc || !doc->IsObject()) return fail("result is not a JSON object");
  CommandResult r;
  if (!read_id(*doc, "command_id", r.command_id)) return fail("bad command id");
  auto accepted = json::get_bool(*doc, "accepted");
  if (!accepted) return fail("missing accepted");
  r.accepted = *accepted;
  r.duplicate = json::get_bool(*doc, "duplicate").value_or(false);
  if (auto* body = json::get_object(*doc, "body")) r.body_json = json::to_string(*body);
  if (auto* events = json::get_array(*doc, "events")) {
    for (auto& p : events->GetArray()) {
      if (!p.IsArray() || p.Size() != 2 || !p[0].IsInt() || !p[1].IsInt64())
        return fail("bad event position");
      r.event_positions.push_back({log::PartitionId{p[0].GetInt()}, log::Offset{p[1].GetInt64()}});
    }
  }
  if (auto* rej = json::get_object(*doc, "rejection")) {
    Rejection x;
    x.code = std::string(json::get_string(*rej, "code").value_or("rejected"));
    x.kind = parse_rejection_kind(json::get_string(*rej, "kind").value_or("invalid"));
    x.message = std::string(json::get_string(*rej, "message").value_or(""));
    r.rejection = x;
  }
  return r;
}

}  // namespace counsel::commands
