#include "domain/ids.hpp"

namespace counsel {

const char* to_string(Role r) {
  switch (r) {
    case Role::client:
      return "client";
    case Role::counselor:
      return "counselor";
    case Role::admin:
      return "admin";
    case Role::compliance:
      return "compliance";
    case Role::system:
      return "system";
  }
  return "system";
}

std::optional<Role> parse_role(std::string_view s) {
  if (s == "client") return Role::client;
  if (s == "counselor") return Role::counselor;
  if (s == "admin") return Role::admin;
  if (s == "compliance") return Role::compliance;
  if (s == "system") return Role::system;
  return std::nullopt;
}

}  // namespace counsel
