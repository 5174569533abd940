#include "domain/json.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <algorithm>

namespace counsel::json {
namespace {

// Counts nesting while RapidJSON parses, so a hostile "[[[[..." cannot exhaust the stack.
struct DepthLimitedHandler : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, DepthLimitedHandler> {
  int depth = 0;
  int max_depth;
  bool exceeded = false;
  explicit DepthLimitedHandler(int max) : max_depth(max) {}
  bool Default() { return true; }
  bool StartObject() { return enter(); }
  bool EndObject(rapidjson::SizeType) { return leave(); }
  bool StartArray() { return enter(); }
  bool EndArray(rapidjson::SizeType) { return leave(); }
  bool enter() {
    if (++depth > max_depth) {
      exceeded = true;
      return false;
    }
    return true;
  }
  bool leave() {
    --depth;
    return true;
  }
};

void write_canonical(Writer& w, const Value& v) {
  if (v.IsObject()) {
    std::vector<const Value::Member*> members;
    members.reserve(v.MemberCount());
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) members.push_back(&*it);
    std::sort(members.begin(), members.end(), [](auto* a, auto* b) {
      return std::string_view(a->name.GetString(), a->name.GetStringLength()) <
             std::string_view(b->name.GetString(), b->name.GetStringLength());
    });
    w.StartObject();
    for (auto* m : members) {
      w.Key(m->name.GetString(), m->name.GetStringLength());
      write_canonical(w, m->value);
    }
    w.EndObject();
  } else if (v.IsArray()) {
    w.StartArray();
    for (auto& e : v.GetArray()) write_canonical(w, e);
    w.EndArray();
  } else {
    v.Accept(w);
  }
}

}  // namespace

std::optional<Document> parse(std::string_view text, ParseError* error, int max_depth) {
  {
    DepthLimitedHandler handler(max_depth);
    rapidjson::Reader reader;
    rapidjson::MemoryStream ms(text.data(), text.size());
    reader.Parse(ms, handler);
    if (handler.exceeded) {
      if (error) error->message = "JSON nested deeper than " + std::to_string(max_depth);
      return std::nullopt;
    }
  }
  Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    if (error)
      error->message = std::string("invalid JSON: ") +
                       rapidjson::GetParseError_En(doc.GetParseError()) + " at offset " +
                       std::to_string(doc.GetErrorOffset());
    return std::nullopt;
  }
  return doc;
}

std::string canonical(const Value& v) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  write_canonical(w, v);
  return {sb.GetString(), sb.GetSize()};
}

std::string to_string(const Value& v) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  v.Accept(w);
  return {sb.GetString(), sb.GetSize()};
}

std::optional<std::string_view> get_string(const Value& obj, const char* key) {
  if (!obj.IsObject()) return std::nullopt;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return std::nullopt;
  return std::string_view(it->value.GetString(), it->value.GetStringLength());
}

std::optional<int64_t> get_int(const Value& obj, const char* key) {
  if (!obj.IsObject()) return std::nullopt;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsInt64()) return std::nullopt;
  return it->value.GetInt64();
}

std::optional<bool> get_bool(const Value& obj, const char* key) {
  if (!obj.IsObject()) return std::nullopt;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsBool()) return std::nullopt;
  return it->value.GetBool();
}

const Value* get_object(const Value& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsObject()) return nullptr;
  return &it->value;
}

const Value* get_array(const Value& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsArray()) return nullptr;
  return &it->value;
}

std::optional<std::vector<std::string>> get_string_array(const Value& obj, const char* key) {
  auto* arr = get_array(obj, key);
  if (!arr) return std::nullopt;
  std::vector<std::string> out;
  for (auto& e : arr->GetArray()) {
    if (!e.IsString()) return std::nullopt;
    out.emplace_back(e.GetString(), e.GetStringLength());
  }
  return out;
}

}  // namespace counsel::json
