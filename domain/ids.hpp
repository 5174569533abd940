#pragma once
#include <string>

#include "domain/named_type.hpp"
#include "domain/uuid.hpp"

namespace counsel {

using UserId = named_type<Uuid, struct user_id_tag>;
using SessionId = named_type<Uuid, struct session_id_tag>;
using EventId = named_type<Uuid, struct event_id_tag>;
using CommandId = named_type<Uuid, struct command_id_tag>;
using CorrelationId = named_type<Uuid, struct correlation_id_tag>;

enum class Role { client, counselor, admin, compliance, system };
const char* to_string(Role r);
std::optional<Role> parse_role(std::string_view s);

struct Actor {
  UserId id;
  Role role = Role::system;
  friend bool operator==(const Actor&, const Actor&) = default;
};

// Stream keys name an aggregate instance; they are also the log key.
inline std::string account_stream(const UserId& u) {
  return "account-" + u.value().str();
}
inline std::string counselor_stream(const UserId& u) {
  return "counselor-" + u.value().str();
}

}  // namespace counsel
