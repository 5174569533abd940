#include "domain/events/envelope.hpp"

#include <sodium.h>

#include "domain/hex.hpp"
#include "domain/json.hpp"

namespace counsel {
namespace {

std::string encode(const EventEnvelope& e, bool with_hash) {
  // Keys in lexicographic order so this writer's output is already canonical.
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "actor");
  w.StartObject();
  json::key(w, "id");
  json::write_string(w, e.actor.id.value().str());
  json::key(w, "role");
  json::write_string(w, to_string(e.actor.role));
  w.EndObject();
  json::key(w, "command_id");
  json::write_string(w, e.command_id.value().str());
  json::key(w, "correlation_id");
  json::write_string(w, e.correlation_id.value().str());
  json::key(w, "data");
  w.RawValue(e.data_json.data(), e.data_json.size(), rapidjson::kObjectType);
  if (with_hash) {
    json::key(w, "hash");
    json::write_string(w, e.hash);
  }
  json::key(w, "id");
  json::write_string(w, e.id.value().str());
  json::key(w, "occurred_at");
  json::write_string(w, format_rfc3339(e.occurred_at));
  json::key(w, "partition");
  w.Int(e.partition);
  json::key(w, "prev_hash");
  json::write_string(w, e.prev_hash);
  json::key(w, "sequence");
  w.Int64(e.sequence);
  json::key(w, "stream");
  json::write_string(w, e.stream);
  json::key(w, "type");
  json::write_string(w, e.type);
  json::key(w, "version");
  w.Int(e.version);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

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

std::string encode_event(const EventEnvelope& e) {
  return encode(e, true);
}
std::string event_hash_input(const EventEnvelope& e) {
  return encode(e, false);
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return hex::lower(digest, sizeof digest);
}

std::string compute_event_hash(const EventEnvelope& e) {
  return sha256_hex(event_hash_input(e));
}

void seal_event(EventEnvelope& e, const std::string& prev_hash) {
  e.prev_hash = prev_hash;
  e.hash = compute_event_hash(e);
}

std::optional<EventEnvelope> decode_event(std::string_view text, std::string* error) {
  auto fail = [&](const char* why) -> std::optional<EventEnvelope> {
    if (error) *error = why;
    return std::nullopt;
  };
  json::ParseError pe;
  auto doc = json::parse(text, &pe, 64);
  if (!doc) {
    if (error) *error = pe.message;
    return std::nullopt;
  }
  if (!doc->IsObject()) return fail("event is not an object");
  EventEnvelope e;
  if (!read_id(*doc, "id", e.id)) return fail("bad id");
  auto type = json::get_string(*doc, "type");
  auto version = json::get_int(*doc, "version");
  auto stream = json::get_string(*doc, "stream");
  auto sequence = json::get_int(*doc, "sequence");
  auto partition = json::get_int(*doc, "partition");
  auto occurred = json::get_string(*doc, "occurred_at");
  auto prev = json::get_string(*doc, "prev_hash");
  auto hash = json::get_string(*doc, "hash");
  auto* actor = json::get_object(*doc, "actor");
  auto* data = json::get_object(*doc, "data");
  if (!type || !version || !stream || !sequence || !partition || !occurred || !prev || !hash ||
      !actor || !data)
    return fail("missing envelope field");
  auto at = parse_rfc3339(*occurred);
  if (!at) return fail("bad occurred_at");
  if (!read_id(*doc, "command_id", e.command_id)) return fail("bad command_id");
  if (!read_id(*doc, "correlation_id", e.correlation_id)) return fail("bad correlation_id");
  if (!read_id(*actor, "id", e.actor.id)) return fail("bad actor id");
  auto role = json::get_string(*actor, "role");
  if (!role || !parse_role(*role)) return fail("bad actor role");
  e.actor.role = *parse_role(*role);
  e.type = *type;
  e.version = static_cast<int>(*version);
  e.stream = *stream;
  e.sequence = *sequence;
  e.partition = static_cast<int32_t>(*partition);
  e.occurred_at = *at;
  e.prev_hash = *prev;
  e.hash = *hash;
  e.data_json = json::canonical(*data);
  return e;
}

}  // namespace counsel
