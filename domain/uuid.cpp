#include "domain/uuid.hpp"

#include "domain/hex.hpp"

namespace counsel {

std::optional<Uuid> Uuid::parse(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  Uuid u;
  size_t bi = 0;
  for (size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    int hi = hex::digit_value(text[i]), lo = hex::digit_value(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    u.bytes[bi++] = static_cast<uint8_t>(hi * 16 + lo);
    i += 2;
  }
  return u;
}

std::string Uuid::str() const {
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(hex::kLowerDigits[bytes[i] >> 4]);
    out.push_back(hex::kLowerDigits[bytes[i] & 0xF]);
  }
  return out;
}

bool Uuid::is_nil() const {
  for (auto b : bytes)
    if (b != 0) return false;
  return true;
}

Uuid uuid_v7(Timestamp at, const std::array<uint8_t, 10>& random) {
  Uuid u;
  auto ms = static_cast<uint64_t>(at.time_since_epoch().count());
  for (int i = 0; i < 6; ++i) u.bytes[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  for (int i = 0; i < 10; ++i) u.bytes[6 + i] = random[i];
  u.bytes[6] = static_cast<uint8_t>((u.bytes[6] & 0x0F) | 0x70);  // version 7
  u.bytes[8] = static_cast<uint8_t>((u.bytes[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return u;
}

}  // namespace counsel
