#include "domain/aggregates/field_rules.hpp"

namespace counsel::fields {

bool valid_utf8(std::string_view s) {
  static constexpr uint32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t continuation = 0;
    uint32_t code_point = 0;
    if ((lead & 0xE0) == 0xC0) {
      continuation = 1;
      code_point = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      continuation = 2;
      code_point = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      continuation = 3;
      code_point = lead & 0x07;
    } else {
      return false;
    }
    if (i + continuation >= s.size()) return false;
    for (size_t k = 1; k <= continuation; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (c & 0x3F);
    }
    if (code_point < kSmallest[continuation] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF))
      return false;
    i += continuation + 1;
  }
  return true;
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

bool plausible_email(std::string_view e) {
  auto at = e.find('@');
  if (at == std::string_view::npos || at == 0 || at != e.rfind('@')) return false;
  auto domain = e.substr(at + 1);
  auto dot = domain.find('.');
  if (domain.empty() || dot == std::string_view::npos || dot == 0 || domain.back() == '.')
    return false;
  for (unsigned char c : e)
    if (c <= ' ' || c == 0x7F || c == '<' || c == '>' || c == ',' || c == ';' || c == '"')
      return false;
  return true;
}

std::string trim(std::string_view s) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

Rejection Reader::fail(std::string_view field, std::string_view expected) const {
  return Rejection{RejectionKind::invalid, code, std::string(field) + ": " + std::string(expected)};
}

Expected<Uuid, Rejection> Reader::uuid(const char* field) const {
  auto text = json::get_string(obj, field);
  auto parsed = text ? Uuid::parse(*text) : std::nullopt;
  if (!parsed || parsed->is_nil()) return unexpected(fail(field, "expected a UUID"));
  return *parsed;
}

Expected<Timestamp, Rejection> Reader::timestamp(const char* field) const {
  auto text = json::get_string(obj, field);
  auto parsed = text ? parse_rfc3339(*text) : std::nullopt;
  if (!parsed)
    return unexpected(fail(field, "expected an RFC 3339 date-time, e.g. 2026-03-02T09:00:00Z"));
  return *parsed;
}

Expected<int64_t, Rejection> Reader::integer(const char* field, int64_t min, int64_t max) const {
  auto v = json::get_int(obj, field);
  if (!v || *v < min || *v > max)
    return unexpected(fail(field, "expected an integer between " + std::to_string(min) + " and " +
                                      std::to_string(max)));
  return *v;
}

Expected<bool, Rejection> Reader::boolean(const char* field) const {
  auto v = json::get_bool(obj, field);
  if (!v) return unexpected(fail(field, "expected true or false"));
  return *v;
}

Expected<std::string, Rejection> Reader::string(const char* field, size_t max_chars,
                                                std::optional<std::string> fallback) const {
  auto it = obj.FindMember(field);
  if ((it == obj.MemberEnd() || it->value.IsNull()) && fallback) return *fallback;
  auto v = json::get_string(obj, field);
  if (!v) return unexpected(fail(field, "expected a string"));
  if (utf8_length(*v) > max_chars)
    return unexpected(fail(field, "at most " + std::to_string(max_chars) + " characters"));
  return std::string(*v);
}

Expected<std::string, Rejection> Reader::label(const char* field, size_t max_chars) const {
  auto v = json::get_string(obj, field);
  if (!v) return unexpected(fail(field, "expected a non-empty string"));
  auto t = trim(*v);
  if (t.empty()) return unexpected(fail(field, "must not be empty"));
  if (utf8_length(t) > max_chars)
    return unexpected(fail(field, "at most " + std::to_string(max_chars) + " characters"));
  return t;
}

Expected<std::vector<std::string>, Rejection> Reader::labels(const char* field, size_t min,
                                                             size_t max, size_t max_chars) const {
  auto* arr = json::get_array(obj, field);
  std::string shape = "expected an array of " + std::to_string(min) + " to " + std::to_string(max) +
                      " non-empty strings of at most " + std::to_string(max_chars) + " characters";
  if (!arr || arr->Size() < min || arr->Size() > max) return unexpected(fail(field, shape));
  std::vector<std::string> out;
  for (auto& e : arr->GetArray()) {
    if (!e.IsString()) return unexpected(fail(field, shape));
    auto t = trim(std::string_view(e.GetString(), e.GetStringLength()));
    if (t.empty() || utf8_length(t) > max_chars) return unexpected(fail(field, shape));
    out.push_back(std::move(t));
  }
  return out;
}

DataBuilder& DataBuilder::string(const char* field, std::string_view value) {
  auto& a = doc_.GetAllocator();
  doc_.AddMember(json::Value(field, a),
                 json::Value(value.data(), static_cast<rapidjson::SizeType>(value.size()), a), a);
  return *this;
}

DataBuilder& DataBuilder::integer(const char* field, int64_t value) {
  auto& a = doc_.GetAllocator();
  doc_.AddMember(json::Value(field, a), json::Value(value), a);
  return *this;
}

DataBuilder& DataBuilder::boolean(const char* field, bool value) {
  auto& a = doc_.GetAllocator();
  doc_.AddMember(json::Value(field, a), json::Value(value), a);
  return *this;
}

DataBuilder& DataBuilder::strings(const char* field, const std::vector<std::string>& values) {
  auto& a = doc_.GetAllocator();
  json::Value arr(rapidjson::kArrayType);
  for (auto& v : values)
    arr.PushBack(json::Value(v.data(), static_cast<rapidjson::SizeType>(v.size()), a), a);
  doc_.AddMember(json::Value(field, a), arr, a);
  return *this;
}

DataBuilder& DataBuilder::merge(const json::Value& obj) {
  auto& a = doc_.GetAllocator();
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it)
    doc_.AddMember(json::Value(it->name, a), json::Value(it->value, a), a);
  return *this;
}

}  // namespace counsel::fields
