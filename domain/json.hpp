#pragma once
// Small helpers over RapidJSON shared by codecs. Parsing is bounded (depth) because the
// same helpers read untrusted request bodies in the api.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace counsel::json {

using Value = rapidjson::Value;
using Document = rapidjson::Document;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

struct ParseError {
  std::string message;
};

// Parses `text`; refuses documents nested deeper than `max_depth`.
std::optional<Document> parse(std::string_view text, ParseError* error = nullptr,
                              int max_depth = 32);

// Serializes any value with object keys sorted and no whitespace: the canonical form that
// hashes are computed over, so a re-encoded event always hashes the same.
std::string canonical(const Value& v);
std::string to_string(const Value& v);

// Field access that never throws: nullopt when absent or of another type.
std::optional<std::string_view> get_string(const Value& obj, const char* key);
std::optional<int64_t> get_int(const Value& obj, const char* key);
std::optional<bool> get_bool(const Value& obj, const char* key);
const Value* get_object(const Value& obj, const char* key);
const Value* get_array(const Value& obj, const char* key);
std::optional<std::vector<std::string>> get_string_array(const Value& obj, const char* key);

inline void write_string(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
inline void key(Writer& w, std::string_view s) {
  w.Key(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

}  // namespace counsel::json
