#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "domain/time.hpp"

namespace counsel {

// A 128-bit UUID. Generation lives with whoever owns randomness (see uuid_v7 below):
// the domain itself never draws random numbers.
struct Uuid {
  std::array<uint8_t, 16> bytes{};

  static std::optional<Uuid> parse(std::string_view text);
  std::string str() const;
  bool is_nil() const;
  friend auto operator<=>(const Uuid&, const Uuid&) = default;
  friend bool operator==(const Uuid&, const Uuid&) = default;
};

// UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits supplied by the caller.
inline std::ostream& operator<<(std::ostream& os, const Uuid& u) {
  return os << u.str();
}

Uuid uuid_v7(Timestamp at, const std::array<uint8_t, 10>& random);

}  // namespace counsel

template <>
struct std::hash<counsel::Uuid> {
  size_t operator()(const counsel::Uuid& u) const noexcept {
    uint64_t a = 0, b = 0;
    for (int i = 0; i < 8; ++i) a = (a << 8) | u.bytes[i];
    for (int i = 8; i < 16; ++i) b = (b << 8) | u.bytes[i];
    return std::hash<uint64_t>{}(a ^ (b * 0x9E3779B97F4A7C15ULL));
  }
};
