// Key → partition exactly as Kafka's Java client (Utils.murmur2 + toPositive % n), which is
// also librdkafka's murmur2_random for non-empty keys, so every producer agrees.
#include <cstring>

#include "infra/log/log.hpp"

namespace counsel::log {

std::string_view topic_name(Topic t) {
  switch (t) {
    case Topic::commands:
      return "counsel.commands.v1";
    case Topic::events:
      return "counsel.events.v1";
    case Topic::results:
      return "counsel.results.v1";
  }
  return "counsel.unknown";
}

uint32_t murmur2(std::string_view key) {
  constexpr uint32_t seed = 0x9747b28c;
  constexpr uint32_t m = 0x5bd1e995;
  constexpr int r = 24;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  // Java computes with a signed int length; the arithmetic is the same modulo 2^32.
  const auto length = static_cast<uint32_t>(key.size());
  uint32_t h = seed ^ length;
  const size_t blocks = key.size() / 4;
  for (size_t i = 0; i < blocks; ++i) {
    const unsigned char* b = data + i * 4;
    // Little-endian assembly of each 4-byte block, as Java's Utils.murmur2 does.
    uint32_t k =
        uint32_t{b[0]} | (uint32_t{b[1]} << 8) | (uint32_t{b[2]} << 16) | (uint32_t{b[3]} << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  // The tail: Java falls through from case 3 to case 1, masking each byte with 0xff.
  const unsigned char* tail = data + blocks * 4;
  switch (key.size() % 4) {
    case 3:
      h ^= uint32_t{tail[2]} << 16;
      [[fallthrough]];
    case 2:
      h ^= uint32_t{tail[1]} << 8;
      [[fallthrough]];
    case 1:
      h ^= uint32_t{tail[0]};
      h *= m;
  }
  // Java uses the unsigned shift >>> here.
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

PartitionId partition_for(std::string_view key, int partition_count) {
  if (partition_count <= 0) return PartitionId{0};
  const uint32_t positive = murmur2(key) & 0x7fffffffu;
  return PartitionId{static_cast<int32_t>(positive % static_cast<uint32_t>(partition_count))};
}

}  // namespace counsel::log
