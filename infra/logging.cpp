#include "infra/logging.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

#include "domain/time.hpp"
#include "infra/random_ids.hpp"

namespace counsel::logging {
namespace {
std::atomic<Level> g_level{Level::info};
std::mutex g_mutex;
const char* name(Level l) {
  switch (l) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "info";
}
}  // namespace

void set_level(Level l) {
  g_level = l;
}

void write(Level l, std::string_view component, std::string_view message) {
  if (l < g_level.load()) return;
  std::string line = format_rfc3339(now_utc());
  line += ' ';
  line += name(l);
  line += " [";
  line += component;
  line += "] ";
  line += message;
  line += '\n';
  std::lock_guard lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace counsel::logging
