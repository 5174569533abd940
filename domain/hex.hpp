#pragma once
// Hexadecimal as the project writes it (lowercase: hashes, ids) and reads it (either case).
#include <cstddef>
#include <cstdint>
#include <string>

namespace counsel::hex {

inline constexpr char kLowerDigits[] = "0123456789abcdef";

// Writes the 2 * size lowercase digits of `bytes` at `out`.
inline void write_lower(const uint8_t* bytes, size_t size, char* out) {
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kLowerDigits[bytes[i] >> 4];
    out[2 * i + 1] = kLowerDigits[bytes[i] & 0xF];
  }
}

inline std::string lower(const uint8_t* bytes, size_t size) {
  std::string out(2 * size, '0');
  write_lower(bytes, size, out.data());
  return out;
}

// 0-15 for a hex digit of either case, -1 for anything else.
inline int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace counsel::hex
