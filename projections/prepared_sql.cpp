#include "projections/prepared_sql.hpp"

#include <cstdio>
#include <functional>

namespace counsel::projections {

std::string prepared_statement_name(std::string_view sql) {
  // Only this process's connections see the name, so a per-process hash is enough; a collision
  // of two texts would make libpqxx refuse the second definition rather than run the wrong one.
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016zx", std::hash<std::string_view>{}(sql));
  return std::string("counsel_proj_") + hex;
}

}  // namespace counsel::projections
