#pragma once
// Typed access to an event's data for projections. A missing or mistyped field throws:
// the event does not match its catalogue entry, so the runner quarantines it.
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "domain/events/envelope.hpp"
#include "domain/json.hpp"
#include "domain/uuid.hpp"

namespace counsel::projections {

class BadEventData : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class EventData {
 public:
  explicit EventData(const EventEnvelope& e);
  const json::Value& root() const { return doc_; }
  std::string str(const char* key) const;
  std::optional<std::string> optional_str(const char* key) const;
  Uuid uuid(const char* key) const;
  int64_t integer(const char* key) const;
  bool boolean(const char* key) const;
  std::vector<std::string> strings(const char* key) const;
  // RFC 3339 text, validated, normalized to the canonical UTC form.
  std::string timestamp(const char* key) const;

 private:
  std::string type_;
  json::Document doc_;
};

// A JSON array text of strings, passed to SQL as jsonb and turned into text[] there
// (libpqxx 6 has no array parameters).
std::string json_string_array(const std::vector<std::string>& values);

}  // namespace counsel::projections
