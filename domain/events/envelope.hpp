#pragma once
// The event envelope every record of the events log carries (see DESIGN.md "Events").
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "domain/ids.hpp"
#include "domain/time.hpp"

namespace counsel {

// What an aggregate's decide() produces: type + version + data. The processor wraps it into
// an envelope (id, stream, sequence, partition, hash chain) before appending.
struct NewEvent {
  std::string type;
  int version = 1;
  std::string data_json;  // canonical JSON object text
};

struct EventEnvelope {
  EventId id;
  std::string type;
  int version = 1;
  std::string stream;
  int64_t sequence = 0;  // per-stream version, 1-based
  int32_t partition = 0;
  Timestamp occurred_at{};
  Actor actor;
  CommandId command_id;
  CorrelationId correlation_id;
  std::string prev_hash;  // hex SHA-256 of the previous event in the same partition ("" for first)
  std::string hash;       // hex SHA-256 over the canonical bytes of everything else
  std::string data_json;  // canonical JSON object text
};

// Full JSON (with hash). Keys are written in canonical (sorted) order.
std::string encode_event(const EventEnvelope& e);
// Parses and validates the envelope's shape; data is re-canonicalized.
std::optional<EventEnvelope> decode_event(std::string_view json, std::string* error = nullptr);

// Bytes the hash covers: the canonical envelope without the "hash" member.
std::string event_hash_input(const EventEnvelope& e);
std::string compute_event_hash(const EventEnvelope& e);
// Sets e.prev_hash = prev and e.hash accordingly.
void seal_event(EventEnvelope& e, const std::string& prev_hash);

std::string sha256_hex(std::string_view bytes);

}  // namespace counsel
