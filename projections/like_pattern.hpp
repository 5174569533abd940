#pragma once
// LIKE patterns built from user input: its wildcards are escaped, so the text matches literally
// and only the pattern's own '%' widen it.
#include <string>
#include <string_view>

namespace counsel::projections {

inline std::string escape_like(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// "%<text>%": contains `text`.
inline std::string contains_pattern(std::string_view text) {
  // Built by appending: GCC 12 at -O3 warns (-Wrestrict, a false positive) on "%" + string.
  std::string out = "%";
  out += escape_like(text);
  out += '%';
  return out;
}

}  // namespace counsel::projections
