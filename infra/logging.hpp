#pragma once
// Structured one-line logs to stderr. Never pass secrets, tokens or personal data here.
#include <string_view>

namespace counsel::logging {

enum class Level { debug, info, warn, error };
void set_level(Level l);
void write(Level l, std::string_view component, std::string_view message);

inline void info(std::string_view c, std::string_view m) {
  write(Level::info, c, m);
}
inline void warn(std::string_view c, std::string_view m) {
  write(Level::warn, c, m);
}
inline void error(std::string_view c, std::string_view m) {
  write(Level::error, c, m);
}
inline void debug(std::string_view c, std::string_view m) {
  write(Level::debug, c, m);
}

}  // namespace counsel::logging
