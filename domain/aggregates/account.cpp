#include "domain/aggregates/account.hpp"

#include "domain/aggregates/field_rules.hpp"

namespace counsel::account {
namespace {

constexpr const char* kInvalidCommand = "invalid_command";

bool is_lower_hex_sha256(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Rejection reject(RejectionKind kind, std::string code, std::string message) {
  return Rejection{kind, std::move(code), std::move(message)};
}

// The fields shared by the command and the event, validated the same way for both.
Expected<Register, Rejection> read_registration(const json::Value& data, const char* code) {
  if (!data.IsObject())
    return unexpected(reject(RejectionKind::invalid, code, "expected a JSON object"));
  fields::Reader r{data, code};
  auto user = r.uuid("user_id");
  if (!user) return unexpected(user.error());
  auto role_text = json::get_string(data, "role");
  auto role = role_text ? parse_role(*role_text) : std::nullopt;
  if (!role || *role == Role::system)
    return unexpected(r.fail("role", "expected one of client, counselor, admin, compliance"));
  auto email = r.string("email", kMaxEncryptedChars);
  if (!email) return unexpected(email.error());
  if (email->empty()) return unexpected(r.fail("email", "must not be empty"));
  auto email_hash = json::get_string(data, "email_hash");
  if (!email_hash || !is_lower_hex_sha256(*email_hash))
    return unexpected(r.fail("email_hash", "expected 64 lowercase hex digits (SHA-256)"));
  auto display_name = r.string("display_name", kMaxEncryptedChars);
  if (!display_name) return unexpected(display_name.error());
  if (display_name->empty()) return unexpected(r.fail("display_name", "must not be empty"));
  auto password_hash = r.string("password_hash", kMaxEncryptedChars);
  if (!password_hash) return unexpected(password_hash.error());
  if (password_hash->empty()) return unexpected(r.fail("password_hash", "must not be empty"));
  return Register{UserId{*user},
                  *role,
                  std::move(*email),
                  std::string(*email_hash),
                  std::move(*display_name),
                  std::move(*password_hash)};
}

Expected<ChangePassword, Rejection> read_password_change(const json::Value& data,
                                                         const char* code) {
  if (!data.IsObject())
    return unexpected(reject(RejectionKind::invalid, code, "expected a JSON object"));
  fields::Reader r{data, code};
  auto user = r.uuid("user_id");
  if (!user) return unexpected(user.error());
  auto password_hash = r.string("password_hash", kMaxEncryptedChars);
  if (!password_hash) return unexpected(password_hash.error());
  if (password_hash->empty()) return unexpected(r.fail("password_hash", "must not be empty"));
  return ChangePassword{UserId{*user}, std::move(*password_hash)};
}

Expected<std::vector<Event>, Rejection> decide_register(const State& s, const Register& c,
                                                        const Actor& actor) {
  // Staff roles are handed out by ops tools only (they act as the system role).
  if ((c.role == Role::admin || c.role == Role::compliance) && actor.role != Role::system)
    return unexpected(
        reject(RejectionKind::forbidden, "role_not_allowed",
               std::string("only the system may create ") + to_string(c.role) + " accounts"));
  if (s.registered)
    return unexpected(reject(RejectionKind::conflict, "already_registered",
                             "this account is already registered"));
  return std::vector<Event>{
      AccountRegistered{c.user_id, c.role, c.email, c.email_hash, c.display_name, c.password_hash}};
}

Expected<std::vector<Event>, Rejection> decide_password(const State& s, const ChangePassword& c,
                                                        const Actor& actor) {
  if (actor.role != Role::system && actor.id != s.user_id)
    return unexpected(reject(RejectionKind::forbidden, "not_account_holder",
                             "only the account holder may change its password"));
  if (!s.registered)
    return unexpected(
        reject(RejectionKind::not_found, "account_not_found", "this account does not exist"));
  return std::vector<Event>{AccountPasswordChanged{c.user_id, c.password_hash}};
}

}  // namespace

std::string_view event_type(const Event& e) {
  return std::visit([](const auto& x) -> std::string_view { return x.type; }, e);
}

State initial_state(const UserId& user_id) {
  State s;
  s.user_id = user_id;
  return s;
}

bool handles_command(std::string_view t) {
  return t == "account.register" || t == "account.change_password";
}

Expected<Command, Rejection> parse_command(std::string_view type, const json::Value& data) {
  if (type == "account.register") {
    auto r = read_registration(data, kInvalidCommand);
    if (!r) return unexpected(r.error());
    return Command{std::move(*r)};
  }
  if (type == "account.change_password") {
    auto r = read_password_change(data, kInvalidCommand);
    if (!r) return unexpected(r.error());
    return Command{std::move(*r)};
  }
  return unexpected(reject(RejectionKind::invalid, "unknown_command",
                           "the account aggregate does not handle " + std::string(type)));
}

Expected<std::vector<Event>, Rejection> decide(const State& s, const Command& command,
                                               const Actor& actor, Timestamp /*now*/) {
  const UserId& target =
      std::visit([](const auto& c) -> const UserId& { return c.user_id; }, command);
  if (s.user_id.value().is_nil() || target != s.user_id)
    return unexpected(reject(RejectionKind::invalid, "stream_mismatch",
                             "user_id does not match the account stream"));
  if (const auto* r = std::get_if<Register>(&command)) return decide_register(s, *r, actor);
  return decide_password(s, std::get<ChangePassword>(command), actor);
}

void evolve(State& s, const Event& event) {
  if (const auto* changed = std::get_if<AccountPasswordChanged>(&event)) {
    s.password_hash = changed->password_hash;
    return;
  }
  const auto& e = std::get<AccountRegistered>(event);
  if (s.registered) return;  // a redelivered registration changes nothing
  s.registered = true;
  s.user_id = e.user_id;
  s.role = e.role;
  s.email = e.email;
  s.email_hash = e.email_hash;
  s.display_name = e.display_name;
  s.password_hash = e.password_hash;
}

NewEvent encode(const Event& event) {
  if (const auto* changed = std::get_if<AccountPasswordChanged>(&event)) {
    fields::DataBuilder b;
    b.id("user_id", changed->user_id.value()).string("password_hash", changed->password_hash);
    return NewEvent{AccountPasswordChanged::type, 1, b.canonical()};
  }
  const auto& e = std::get<AccountRegistered>(event);
  fields::DataBuilder b;
  b.id("user_id", e.user_id.value())
      .string("role", to_string(e.role))
      .string("email", e.email)
      .string("email_hash", e.email_hash)
      .string("display_name", e.display_name)
      .string("password_hash", e.password_hash);
  return NewEvent{AccountRegistered::type, 1, b.canonical()};
}

std::optional<Event> decode(std::string_view type, int version, const json::Value& data) {
  if (version != 1) return std::nullopt;
  if (type == AccountPasswordChanged::type) {
    auto r = read_password_change(data, "invalid_event");
    if (!r) return std::nullopt;
    return AccountPasswordChanged{r->user_id, std::move(r->password_hash)};
  }
  if (type != AccountRegistered::type) return std::nullopt;
  auto r = read_registration(data, "invalid_event");
  if (!r) return std::nullopt;
  return AccountRegistered{r->user_id,    r->role,         std::move(r->email),
                           r->email_hash, r->display_name, r->password_hash};
}

std::string account_view_json(const State& s) {
  if (!s.registered) return "null";
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "email_hash");
  json::write_string(w, s.email_hash);
  json::key(w, "id");
  json::write_string(w, s.user_id.value().str());
  json::key(w, "role");
  json::write_string(w, to_string(s.role));
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace counsel::account
