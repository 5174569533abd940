#include "projections/event_data.hpp"

#include "domain/time.hpp"

namespace counsel::projections {

EventData::EventData(const EventEnvelope& e) : type_(e.type) {
  json::ParseError error;
  auto doc = json::parse(e.data_json, &error, 64);
  if (!doc || !doc->IsObject()) throw BadEventData(type_ + ": data is not a JSON object");
  doc_ = std::move(*doc);
}

std::string EventData::str(const char* key) const {
  auto v = json::get_string(doc_, key);
  if (!v) throw BadEventData(type_ + ": missing string field " + key);
  return std::string(*v);
}

std::optional<std::string> EventData::optional_str(const char* key) const {
  auto v = json::get_string(doc_, key);
  if (!v) return std::nullopt;
  return std::string(*v);
}

Uuid EventData::uuid(const char* key) const {
  auto u = Uuid::parse(str(key));
  if (!u) throw BadEventData(type_ + ": field " + key + " is not a uuid");
  return *u;
}

int64_t EventData::integer(const char* key) const {
  auto v = json::get_int(doc_, key);
  if (!v) throw BadEventData(type_ + ": missing integer field " + key);
  return *v;
}

bool EventData::boolean(const char* key) const {
  auto v = json::get_bool(doc_, key);
  if (!v) throw BadEventData(type_ + ": missing boolean field " + key);
  return *v;
}

std::vector<std::string> EventData::strings(const char* key) const {
  auto v = json::get_string_array(doc_, key);
  if (!v) throw BadEventData(type_ + ": missing string array field " + key);
  return *v;
}

std::string EventData::timestamp(const char* key) const {
  auto t = parse_rfc3339(str(key));
  if (!t) throw BadEventData(type_ + ": field " + key + " is not an RFC 3339 time");
  return format_rfc3339(*t);
}

std::string json_string_array(const std::vector<std::string>& values) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartArray();
  for (const auto& v : values) json::write_string(w, v);
  w.EndArray();
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace counsel::projections
