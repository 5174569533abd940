#pragma once
// Field readers shared by the aggregates' command and event codecs. Each returns the value or
// a Rejection{invalid, code, "<field>: <what was expected>"}; none throws.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/expected.hpp"
#include "domain/ids.hpp"
#include "domain/json.hpp"
#include "domain/rejection.hpp"
#include "domain/time.hpp"

namespace counsel::fields {

// Length in Unicode code points (UTF-8 continuation bytes are not counted).
size_t utf8_length(std::string_view s);
// Strict UTF-8: no overlong forms, surrogates or code points past U+10FFFF. The api's body
// parser does not check the encoding and PostgreSQL refuses anything else, so text that reaches
// an event and then a read model must pass this first, or it would stop the projection.
bool valid_utf8(std::string_view s);
std::string trim(std::string_view s);
// One '@' with text before it and a dotted domain after it, no spaces, controls or characters
// that would break a header or a quoted list. Length bounds are the caller's.
bool plausible_email(std::string_view e);

struct Reader {
  const json::Value& obj;
  std::string code;  // rejection code, e.g. "invalid_command"

  Rejection fail(std::string_view field, std::string_view expected) const;

  Expected<Uuid, Rejection> uuid(const char* field) const;
  Expected<Timestamp, Rejection> timestamp(const char* field) const;
  Expected<int64_t, Rejection> integer(const char* field, int64_t min, int64_t max) const;
  Expected<bool, Rejection> boolean(const char* field) const;
  // A string of at most max_chars code points. Absent => `fallback` if given, else a failure.
  Expected<std::string, Rejection> string(const char* field, size_t max_chars,
                                          std::optional<std::string> fallback = std::nullopt) const;
  // Trimmed, non-empty, at most max_chars code points.
  Expected<std::string, Rejection> label(const char* field, size_t max_chars) const;
  // An array of min..max trimmed, non-empty labels of at most max_chars each.
  Expected<std::vector<std::string>, Rejection> labels(const char* field, size_t min, size_t max,
                                                       size_t max_chars) const;
};

// Builds an event's data object; canonical() sorts the keys, so member order does not matter.
class DataBuilder {
 public:
  DataBuilder() { doc_.SetObject(); }
  DataBuilder& string(const char* field, std::string_view value);
  DataBuilder& id(const char* field, const Uuid& value) { return string(field, value.str()); }
  DataBuilder& integer(const char* field, int64_t value);
  DataBuilder& boolean(const char* field, bool value);
  DataBuilder& strings(const char* field, const std::vector<std::string>& values);
  // Copies every member of `obj` (an object) into the data.
  DataBuilder& merge(const json::Value& obj);
  std::string canonical() const { return json::canonical(doc_); }

 private:
  json::Document doc_;
};

}  // namespace counsel::fields
