#pragma once
// The account aggregate (stream account-<user>): registration, role and password. Email
// uniqueness is reserved in PostgreSQL before the command is sent; this aggregate only refuses a
// second registration of the same user id and roles the actor may not hand out. The api checks
// the current password before it asks for a change (the aggregate only sees hashes).
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/events/envelope.hpp"
#include "domain/expected.hpp"
#include "domain/ids.hpp"
#include "domain/json.hpp"
#include "domain/rejection.hpp"
#include "domain/time.hpp"

namespace counsel::account {

// Encrypted fields ("enc:v1:...") are opaque here; this bounds their size.
inline constexpr size_t kMaxEncryptedChars = 4096;

struct AccountRegistered {
  static constexpr const char* type = "account.registered";
  UserId user_id;
  Role role = Role::client;
  std::string email;          // enc, subject user_id
  std::string email_hash;     // hex sha256 of the lowercased email
  std::string display_name;   // enc, subject user_id
  std::string password_hash;  // enc, subject user_id
  friend bool operator==(const AccountRegistered&, const AccountRegistered&) = default;
};
struct AccountPasswordChanged {
  static constexpr const char* type = "account.password_changed";
  UserId user_id;
  std::string password_hash;  // enc, subject user_id
  friend bool operator==(const AccountPasswordChanged&, const AccountPasswordChanged&) = default;
};
using Event = std::variant<AccountRegistered, AccountPasswordChanged>;
std::string_view event_type(const Event& e);

struct State {
  UserId user_id;  // from the stream key
  bool registered = false;
  Role role = Role::client;
  std::string email;
  std::string email_hash;
  std::string display_name;
  std::string password_hash;
};
State initial_state(const UserId& user_id);

struct Register {
  UserId user_id;
  Role role = Role::client;
  std::string email;
  std::string email_hash;
  std::string display_name;
  std::string password_hash;
};
// Only the account holder (or the system) changes a password.
struct ChangePassword {
  UserId user_id;
  std::string password_hash;
};
using Command = std::variant<Register, ChangePassword>;

bool handles_command(std::string_view command_type);
Expected<Command, Rejection> parse_command(std::string_view command_type, const json::Value& data);
Expected<std::vector<Event>, Rejection> decide(const State& s, const Command& c, const Actor& actor,
                                               Timestamp now);
void evolve(State& s, const Event& e);
NewEvent encode(const Event& e);
std::optional<Event> decode(std::string_view type, int version, const json::Value& data);

// {id, role, email_hash}; "null" before registration.
std::string account_view_json(const State& s);

}  // namespace counsel::account
