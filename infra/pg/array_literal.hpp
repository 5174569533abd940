#pragma once
// PostgreSQL array literals, the text form in which arrays travel as statement parameters
// (libpqxx 6 has no array parameters).
#include <optional>
#include <string>
#include <string_view>

namespace counsel::pg {

// Appends `value` to the element list of a literal being built from "{": a comma before every
// element but the first, the value double-quoted with `"` and `\` escaped, nullopt as NULL.
// The caller closes the literal with '}'.
inline void append_array_element(std::string& literal, std::optional<std::string_view> value) {
  if (literal.size() > 1) literal += ',';
  if (!value) {
    literal += "NULL";
    return;
  }
  literal += '"';
  for (char c : *value) {
    if (c == '"' || c == '\\') literal += '\\';
    literal += c;
  }
  literal += '"';
}

}  // namespace counsel::pg
