#include "domain/aggregates/account.hpp"

#include "domain/aggregates/field_rules.hpp"
#include "domain/hex.hpp"

namespace counsel::account {
namespace {

constexpr const char* kInvalidCommand = "invalid_command";
constexpr const char* kInvalidEvent = "invalid_event";

bool is_lower_hex_sha256(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool is_encrypted(std::string_view s) {
  return s.rfind("enc:v1:", 0) == 0;
}

// "zu", "en", "en-ZA", "nso": a short BCP 47 tag (language, optional region).
bool plausible_language_tag(std::string_view s) {
  auto lower = [](char c) { return c >= 'a' && c <= 'z'; };
  auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  size_t i = 0;
  while (i < s.size() && lower(s[i])) ++i;
  if (i < 2 || i > 3) return false;
  if (i == s.size()) return true;
  if (s[i] != '-' || s.size() - i - 1 != 2) return false;
  return upper(s[i + 1]) && upper(s[i + 2]);
}

Rejection reject(RejectionKind kind, std::string code, std::string message) {
  return Rejection{kind, std::move(code), std::move(message)};
}

Expected<Register, Rejection> read_registration(const json::Value& data, const char* code) {
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

// A required non-empty opaque (usually encrypted) string.
Expected<std::string, Rejection> required_secret(const fields::Reader& r, const char* field) {
  auto v = r.string(field, kMaxEncryptedChars);
  if (!v) return unexpected(v.error());
  if (v->empty()) return unexpected(r.fail(field, "must not be empty"));
  return std::move(*v);
}

// An optional personal field: "" or encrypted text.
Expected<std::string, Rejection> optional_encrypted(const fields::Reader& r, const char* field) {
  auto v = r.string(field, kMaxEncryptedChars, std::string());
  if (!v) return unexpected(v.error());
  if (!v->empty() && !is_encrypted(*v))
    return unexpected(r.fail(field, "expected \"\" or an encrypted value (enc:v1:...)"));
  return std::move(*v);
}

template <class E>
Expected<E, Rejection> read_enum(const fields::Reader& r, const char* field,
                                 std::initializer_list<E> values, const char* expected) {
  auto text = json::get_string(r.obj, field);
  if (text)
    for (E v : values)
      if (*text == to_string(v)) return v;
  return unexpected(r.fail(field, expected));
}

// The user id every account command and event carries; checked against the stream later.
Expected<UserId, Rejection> read_user(const fields::Reader& r) {
  auto user = r.uuid("user_id");
  if (!user) return unexpected(user.error());
  return UserId{*user};
}

Expected<ClientProfileUpdated, Rejection> read_client_profile(const fields::Reader& r) {
  ClientProfileUpdated p;
  auto user = read_user(r);
  if (!user) return unexpected(user.error());
  p.user_id = *user;
  for (auto [field, target] :
       {std::pair{"picture_url", &p.picture_url}, std::pair{"bio", &p.bio},
        std::pair{"address", &p.address}, std::pair{"preferences", &p.preferences},
        std::pair{"alias", &p.alias}}) {
    auto v = optional_encrypted(r, field);
    if (!v) return unexpected(v.error());
    *target = std::move(*v);
  }
  auto language = r.string("preferred_language", 16, std::string());
  if (!language) return unexpected(language.error());
  if (!language->empty() && !plausible_language_tag(*language))
    return unexpected(r.fail("preferred_language", "expected a language tag like zu or en-ZA"));
  p.preferred_language = std::move(*language);
  auto anonymous = r.boolean("anonymous");
  if (!anonymous) return unexpected(anonymous.error());
  p.anonymous = *anonymous;
  if (p.anonymous && p.alias.empty())
    return unexpected(r.fail("alias", "an anonymous client needs an alias"));
  return p;
}

Expected<std::vector<std::string>, Rejection> read_code_hashes(const fields::Reader& r) {
  auto hashes = r.labels("recovery_code_hashes", 1, kMaxRecoveryCodes, 64);
  if (!hashes) return unexpected(hashes.error());
  for (auto& h : *hashes)
    if (!is_lower_hex_sha256(h))
      return unexpected(r.fail("recovery_code_hashes", "expected SHA-256 hex digests"));
  return std::move(*hashes);
}

// One reader per event type, shared by the command parser (code invalid_command) and the
// event decoder (invalid_event), so that both accept exactly the same shapes.
Expected<Event, Rejection> read_event(std::string_view type, const json::Value& data,
                                      const char* code) {
  if (!data.IsObject())
    return unexpected(reject(RejectionKind::invalid, code, "expected a JSON object"));
  fields::Reader r{data, code};
  if (type == AccountRegistered::type) {
    auto reg = read_registration(data, code);
    if (!reg) return unexpected(reg.error());
    return Event{AccountRegistered{reg->user_id, reg->role, std::move(reg->email), reg->email_hash,
                                   reg->display_name, reg->password_hash}};
  }
  if (type == ClientProfileUpdated::type) {
    auto p = read_client_profile(r);
    if (!p) return unexpected(p.error());
    return Event{std::move(*p)};
  }
  auto user = read_user(r);
  if (!user) return unexpected(user.error());
  if (type == AccountPasswordChanged::type) {
    auto hash = required_secret(r, "password_hash");
    if (!hash) return unexpected(hash.error());
    return Event{AccountPasswordChanged{*user, std::move(*hash)}};
  }
  if (type == PasswordResetRequested::type) {
    auto expires = r.timestamp("expires_at");
    if (!expires) return unexpected(expires.error());
    return Event{PasswordResetRequested{*user, *expires}};
  }
  if (type == LoggedIn::type) {
    auto f = read_enum(r, "second_factor",
                       {SecondFactor::none, SecondFactor::totp, SecondFactor::recovery_code},
                       "expected none, totp or recovery_code");
    if (!f) return unexpected(f.error());
    return Event{LoggedIn{*user, *f}};
  }
  if (type == LoginFailed::type) {
    auto f = read_enum(r, "reason",
                       {LoginFailure::invalid_password, LoginFailure::totp_required,
                        LoginFailure::invalid_totp, LoginFailure::suspended},
                       "expected invalid_password, totp_required, invalid_totp or suspended");
    if (!f) return unexpected(f.error());
    return Event{LoginFailed{*user, *f}};
  }
  if (type == Verified::type) return Event{Verified{*user}};
  if (type == Reinstated::type) return Event{Reinstated{*user}};
  if (type == Suspended::type) {
    auto reason = optional_encrypted(r, "reason");
    if (!reason) return unexpected(reason.error());
    return Event{Suspended{*user, std::move(*reason)}};
  }
  if (type == TwoFactorEnabled::type) {
    auto secret = required_secret(r, "totp_secret");
    if (!secret) return unexpected(secret.error());
    auto hashes = read_code_hashes(r);
    if (!hashes) return unexpected(hashes.error());
    return Event{TwoFactorEnabled{*user, std::move(*secret), std::move(*hashes)}};
  }
  if (type == RecoveryCodeUsed::type) {
    auto hash = json::get_string(data, "code_hash");
    if (!hash || !is_lower_hex_sha256(*hash))
      return unexpected(r.fail("code_hash", "expected a SHA-256 hex digest"));
    return Event{RecoveryCodeUsed{*user, std::string(*hash)}};
  }
  if (type == IdentityRevealed::type) {
    auto reason = required_secret(r, "reason");
    if (!reason) return unexpected(reason.error());
    return Event{IdentityRevealed{*user, std::move(*reason)}};
  }
  if (type == ErasureRequested::type) {
    auto g = read_enum(r, "grounds",
                       {ErasureGrounds::clinical_records, ErasureGrounds::counselor_records},
                       "expected clinical_records or counselor_records");
    if (!g) return unexpected(g.error());
    return Event{ErasureRequested{*user, *g}};
  }
  if (type == ErasureRejected::type) return Event{ErasureRejected{*user}};
  if (type == Erased::type) {
    auto text = json::get_string(data, "approved_by");
    if (!text) return unexpected(r.fail("approved_by", "expected \"\" or a user id"));
    if (text->empty()) return Event{Erased{*user, std::nullopt}};
    auto admin = Uuid::parse(*text);
    if (!admin || admin->is_nil())
      return unexpected(r.fail("approved_by", "expected \"\" or a user id"));
    return Event{Erased{*user, UserId{*admin}}};
  }
  return unexpected(reject(RejectionKind::invalid, "unknown_type",
                           "the account aggregate has no event " + std::string(type)));
}

// ---- decisions ----

bool is_staff(const Actor& a) {
  return a.role == Role::admin || a.role == Role::system;
}

Expected<std::vector<Event>, Rejection> forbid(std::string code, std::string message) {
  return unexpected(reject(RejectionKind::forbidden, std::move(code), std::move(message)));
}

Expected<std::vector<Event>, Rejection> must_exist(const State& s) {
  if (!s.registered)
    return unexpected(
        reject(RejectionKind::not_found, "account_not_found", "this account does not exist"));
  return std::vector<Event>{};
}

Expected<std::vector<Event>, Rejection> decide_register(const State& s, const Register& c,
                                                        const Actor& actor) {
  // Admins are created by the ops tool only (it acts as the system); an admin may create
  // compliance accounts.
  if (c.role == Role::admin && actor.role != Role::system)
    return forbid("role_not_allowed", "only the system may create admin accounts");
  if (c.role == Role::compliance && !is_staff(actor))
    return forbid("role_not_allowed", "only an admin may create compliance accounts");
  if (s.registered)
    return unexpected(reject(RejectionKind::conflict, "already_registered",
                             "this account is already registered"));
  return std::vector<Event>{
      AccountRegistered{c.user_id, c.role, c.email, c.email_hash, c.display_name, c.password_hash}};
}

Expected<std::vector<Event>, Rejection> decide_status(const State& s, const ChangeStatus& c,
                                                      const Actor& actor) {
  if (!is_staff(actor)) return forbid("admin_only", "only an admin may change an account's status");
  if (auto e = must_exist(s); !e) return e;
  if (c.action != StatusAction::verify && actor.id == s.user_id)
    return unexpected(reject(RejectionKind::unprocessable, "cannot_change_own_status",
                             "an admin cannot suspend or reinstate their own account"));
  if (c.action != StatusAction::verify && s.role == Role::admin && actor.role != Role::system)
    return forbid("role_not_allowed", "admin accounts are suspended by the ops tool only");
  // Each change is idempotent: asking for the state the account is already in changes nothing.
  switch (c.action) {
    case StatusAction::verify:
      if (s.verified) return std::vector<Event>{};
      return std::vector<Event>{Verified{s.user_id}};
    case StatusAction::suspend:
      if (s.suspended) return std::vector<Event>{};
      return std::vector<Event>{Suspended{s.user_id, c.reason}};
    case StatusAction::reinstate:
      if (!s.suspended) return std::vector<Event>{};
      return std::vector<Event>{Reinstated{s.user_id}};
  }
  return std::vector<Event>{};
}

struct Decider {
  const State& s;
  const Actor& actor;
  Timestamp now;

  bool holder_or_system() const { return actor.role == Role::system || actor.id == s.user_id; }

  Expected<std::vector<Event>, Rejection> operator()(const Register& c) const {
    return decide_register(s, c, actor);
  }
  Expected<std::vector<Event>, Rejection> operator()(const ChangePassword& c) const {
    if (!holder_or_system())
      return forbid("not_account_holder", "only the account holder may change its password");
    if (auto e = must_exist(s); !e) return e;
    return std::vector<Event>{AccountPasswordChanged{c.user_id, c.password_hash}};
  }
  Expected<std::vector<Event>, Rejection> operator()(const RequestPasswordReset& c) const {
    if (actor.role != Role::system)
      return forbid("system_only", "password resets are recorded by the system");
    if (auto e = must_exist(s); !e) return e;
    if (c.expires_at <= now)
      return unexpected(
          reject(RejectionKind::invalid, "invalid_command", "expires_at: must be in the future"));
    return std::vector<Event>{PasswordResetRequested{c.user_id, c.expires_at}};
  }
  Expected<std::vector<Event>, Rejection> operator()(const RecordLogin& c) const {
    if (!holder_or_system())
      return forbid("not_account_holder", "a sign-in is recorded for its own account only");
    if (auto e = must_exist(s); !e) return e;
    if (s.suspended) return forbid("account_suspended", "this account is suspended");
    if (s.two_factor_enabled && c.second_factor == SecondFactor::none)
      return unexpected(reject(RejectionKind::unauthorized, "totp_required",
                               "this account signs in with a second factor"));
    return std::vector<Event>{LoggedIn{c.user_id, c.second_factor}};
  }
  Expected<std::vector<Event>, Rejection> operator()(const RecordLoginFailure& c) const {
    if (actor.role != Role::system)
      return forbid("system_only", "failed sign-ins are recorded by the system");
    if (auto e = must_exist(s); !e) return e;
    return std::vector<Event>{LoginFailed{c.user_id, c.reason}};
  }
  Expected<std::vector<Event>, Rejection> operator()(const ChangeStatus& c) const {
    return decide_status(s, c, actor);
  }
  Expected<std::vector<Event>, Rejection> operator()(const EnableTwoFactor& c) const {
    if (actor.id != s.user_id)
      return forbid("not_account_holder", "only the account holder may enable two-factor");
    if (auto e = must_exist(s); !e) return e;
    if (s.two_factor_enabled)
      return unexpected(reject(RejectionKind::conflict, "two_factor_already_enabled",
                               "two-factor authentication is already enabled"));
    return std::vector<Event>{TwoFactorEnabled{c.user_id, c.totp_secret, c.recovery_code_hashes}};
  }
  Expected<std::vector<Event>, Rejection> operator()(const UseRecoveryCode& c) const {
    if (!holder_or_system())
      return forbid("not_account_holder", "a recovery code is used for its own account only");
    if (auto e = must_exist(s); !e) return e;
    // The aggregate is where a code is spent exactly once, even if two sign-ins race.
    if (!s.two_factor_enabled || !s.unused_recovery_codes.contains(c.code_hash))
      return unexpected(reject(RejectionKind::unauthorized, "invalid_recovery_code",
                               "this recovery code is unknown or already used"));
    return std::vector<Event>{RecoveryCodeUsed{c.user_id, c.code_hash}};
  }
  Expected<std::vector<Event>, Rejection> operator()(const UpdateClientProfile& c) const {
    if (actor.id != s.user_id)
      return forbid("not_account_holder", "only the client may change their profile");
    if (auto e = must_exist(s); !e) return e;
    if (s.role != Role::client)
      return unexpected(reject(RejectionKind::unprocessable, "not_a_client",
                               "only client accounts have a client profile"));
    return std::vector<Event>{c.profile};
  }
  Expected<std::vector<Event>, Rejection> operator()(const RecordIdentityReveal& c) const {
    if (!is_staff(actor)) return forbid("admin_only", "only an admin may look behind an alias");
    if (auto e = must_exist(s); !e) return e;
    return std::vector<Event>{IdentityRevealed{c.user_id, c.reason}};
  }
  Expected<std::vector<Event>, Rejection> operator()(const RequestErasure& c) const {
    if (actor.id != s.user_id)
      return forbid("not_account_holder", "only the account holder may ask to be erased");
    if (auto e = must_be_erasable(); !e) return e;
    if (s.erasure_pending) return std::vector<Event>{};  // asked already: still pending
    return std::vector<Event>{ErasureRequested{c.user_id, c.grounds}};
  }
  Expected<std::vector<Event>, Rejection> operator()(const Erase& c) const {
    if (auto e = must_be_erasable(); !e) return e;
    if (actor.id == s.user_id) {
      // Clinicians' records wait for an admin: a counsellor, or anyone with a request pending.
      if (c.approved_by || s.role != Role::client || s.erasure_pending)
        return forbid("erasure_needs_approval",
                      "an admin must approve this erasure (records a clinician must keep)");
      return std::vector<Event>{Erased{c.user_id, std::nullopt}};
    }
    if (!is_staff(actor)) return forbid("admin_only", "only the holder or an admin may erase");
    if (!s.erasure_pending)
      return unexpected(reject(RejectionKind::conflict, "no_erasure_request",
                               "this account has no pending erasure request"));
    if (actor.role == Role::admin && c.approved_by != actor.id)
      return unexpected(reject(RejectionKind::invalid, "invalid_command",
                               "approved_by: must be the approving admin"));
    return std::vector<Event>{Erased{c.user_id, c.approved_by}};
  }
  Expected<std::vector<Event>, Rejection> operator()(const RejectErasure& c) const {
    if (!is_staff(actor)) return forbid("admin_only", "only an admin may decide on an erasure");
    if (auto e = must_exist(s); !e) return e;
    if (!s.erasure_pending)
      return unexpected(reject(RejectionKind::conflict, "no_erasure_request",
                               "this account has no pending erasure request"));
    return std::vector<Event>{ErasureRejected{c.user_id}};
  }

 private:
  // Staff accounts are retired by the ops tool, not erased through the api.
  Expected<std::vector<Event>, Rejection> must_be_erasable() const {
    if (auto e = must_exist(s); !e) return e;
    if (s.role == Role::admin || s.role == Role::compliance)
      return forbid("role_not_allowed", "staff accounts are not erased through the api");
    return std::vector<Event>{};
  }
};

const UserId& command_user(const Command& command) {
  return std::visit(
      [](const auto& c) -> const UserId& {
        if constexpr (std::is_same_v<std::decay_t<decltype(c)>, UpdateClientProfile>)
          return c.profile.user_id;
        else
          return c.user_id;
      },
      command);
}

void write_data(fields::DataBuilder& b, const Event& event) {
  std::visit(
      [&](const auto& e) {
        using E = std::decay_t<decltype(e)>;
        b.id("user_id", e.user_id.value());
        if constexpr (std::is_same_v<E, AccountRegistered>) {
          b.string("role", to_string(e.role))
              .string("email", e.email)
              .string("email_hash", e.email_hash)
              .string("display_name", e.display_name)
              .string("password_hash", e.password_hash);
        } else if constexpr (std::is_same_v<E, AccountPasswordChanged>) {
          b.string("password_hash", e.password_hash);
        } else if constexpr (std::is_same_v<E, PasswordResetRequested>) {
          b.string("expires_at", format_rfc3339(e.expires_at));
        } else if constexpr (std::is_same_v<E, LoggedIn>) {
          b.string("second_factor", to_string(e.second_factor));
        } else if constexpr (std::is_same_v<E, LoginFailed>) {
          b.string("reason", to_string(e.reason));
        } else if constexpr (std::is_same_v<E, Suspended> || std::is_same_v<E, IdentityRevealed>) {
          b.string("reason", e.reason);
        } else if constexpr (std::is_same_v<E, TwoFactorEnabled>) {
          b.string("totp_secret", e.totp_secret)
              .strings("recovery_code_hashes", e.recovery_code_hashes);
        } else if constexpr (std::is_same_v<E, RecoveryCodeUsed>) {
          b.string("code_hash", e.code_hash);
        } else if constexpr (std::is_same_v<E, ErasureRequested>) {
          b.string("grounds", to_string(e.grounds));
        } else if constexpr (std::is_same_v<E, Erased>) {
          b.string("approved_by", e.approved_by ? e.approved_by->value().str() : "");
        } else if constexpr (std::is_same_v<E, ClientProfileUpdated>) {
          b.string("picture_url", e.picture_url)
              .string("bio", e.bio)
              .string("address", e.address)
              .string("preferences", e.preferences)
              .string("preferred_language", e.preferred_language)
              .boolean("anonymous", e.anonymous)
              .string("alias", e.alias);
        }
      },
      event);
}

}  // namespace

const char* to_string(SecondFactor f) {
  switch (f) {
    case SecondFactor::none:
      return "none";
    case SecondFactor::totp:
      return "totp";
    case SecondFactor::recovery_code:
      return "recovery_code";
  }
  return "none";
}

const char* to_string(LoginFailure f) {
  switch (f) {
    case LoginFailure::invalid_password:
      return "invalid_password";
    case LoginFailure::totp_required:
      return "totp_required";
    case LoginFailure::invalid_totp:
      return "invalid_totp";
    case LoginFailure::suspended:
      return "suspended";
  }
  return "invalid_password";
}

const char* to_string(ErasureGrounds g) {
  switch (g) {
    case ErasureGrounds::clinical_records:
      return "clinical_records";
    case ErasureGrounds::counselor_records:
      return "counselor_records";
  }
  return "clinical_records";
}

std::string_view event_type(const Event& e) {
  return std::visit([](const auto& x) -> std::string_view { return x.type; }, e);
}

State initial_state(const UserId& user_id) {
  State s;
  s.user_id = user_id;
  return s;
}

namespace {
// command type → the event type whose shape it shares (most commands carry their event's data).
struct CommandShape {
  std::string_view command;
  std::string_view event;
};
constexpr CommandShape kCommands[] = {
    {"account.register", AccountRegistered::type},
    {"account.change_password", AccountPasswordChanged::type},
    {"account.request_password_reset", PasswordResetRequested::type},
    {"account.record_login", LoggedIn::type},
    {"account.record_login_failure", LoginFailed::type},
    {"account.verify", Verified::type},
    {"account.suspend", Suspended::type},
    {"account.reinstate", Reinstated::type},
    {"account.enable_two_factor", TwoFactorEnabled::type},
    {"account.use_recovery_code", RecoveryCodeUsed::type},
    {"account.update_client_profile", ClientProfileUpdated::type},
    {"account.record_identity_reveal", IdentityRevealed::type},
    {"account.request_erasure", ErasureRequested::type},
    {"account.reject_erasure", ErasureRejected::type},
    {"account.erase", Erased::type},
};
}  // namespace

bool handles_command(std::string_view t) {
  for (auto& c : kCommands)
    if (c.command == t) return true;
  return false;
}

Expected<Command, Rejection> parse_command(std::string_view type, const json::Value& data) {
  const CommandShape* shape = nullptr;
  for (auto& c : kCommands)
    if (c.command == type) shape = &c;
  if (!shape)
    return unexpected(reject(RejectionKind::invalid, "unknown_command",
                             "the account aggregate does not handle " + std::string(type)));
  auto event = read_event(shape->event, data, kInvalidCommand);
  if (!event) return unexpected(event.error());
  return std::visit(
      [](auto& e) -> Command {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, AccountRegistered>)
          return Register{e.user_id,    e.role,         e.email,
                          e.email_hash, e.display_name, e.password_hash};
        else if constexpr (std::is_same_v<E, AccountPasswordChanged>)
          return ChangePassword{e.user_id, e.password_hash};
        else if constexpr (std::is_same_v<E, PasswordResetRequested>)
          return RequestPasswordReset{e.user_id, e.expires_at};
        else if constexpr (std::is_same_v<E, LoggedIn>)
          return RecordLogin{e.user_id, e.second_factor};
        else if constexpr (std::is_same_v<E, LoginFailed>)
          return RecordLoginFailure{e.user_id, e.reason};
        else if constexpr (std::is_same_v<E, Verified>)
          return ChangeStatus{StatusAction::verify, e.user_id, ""};
        else if constexpr (std::is_same_v<E, Suspended>)
          return ChangeStatus{StatusAction::suspend, e.user_id, e.reason};
        else if constexpr (std::is_same_v<E, Reinstated>)
          return ChangeStatus{StatusAction::reinstate, e.user_id, ""};
        else if constexpr (std::is_same_v<E, TwoFactorEnabled>)
          return EnableTwoFactor{e.user_id, e.totp_secret, e.recovery_code_hashes};
        else if constexpr (std::is_same_v<E, RecoveryCodeUsed>)
          return UseRecoveryCode{e.user_id, e.code_hash};
        else if constexpr (std::is_same_v<E, ClientProfileUpdated>)
          return UpdateClientProfile{e};
        else if constexpr (std::is_same_v<E, ErasureRequested>)
          return RequestErasure{e.user_id, e.grounds};
        else if constexpr (std::is_same_v<E, ErasureRejected>)
          return RejectErasure{e.user_id};
        else if constexpr (std::is_same_v<E, Erased>)
          return Erase{e.user_id, e.approved_by};
        else
          return RecordIdentityReveal{e.user_id, e.reason};
      },
      *event);
}

Expected<std::vector<Event>, Rejection> decide(const State& s, const Command& command,
                                               const Actor& actor, Timestamp now) {
  if (s.user_id.value().is_nil() || command_user(command) != s.user_id)
    return unexpected(reject(RejectionKind::invalid, "stream_mismatch",
                             "user_id does not match the account stream"));
  // An erased account is a tombstone: nothing is recorded for it any more.
  if (s.erased)
    return unexpected(
        reject(RejectionKind::conflict, "account_erased", "this account has been erased"));
  return std::visit(Decider{s, actor, now}, command);
}

void evolve(State& s, const Event& event) {
  std::visit(
      [&](const auto& e) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, AccountRegistered>) {
          if (s.registered) return;  // a redelivered registration changes nothing
          s.registered = true;
          s.user_id = e.user_id;
          s.role = e.role;
          // Checked when the event was read (64 lowercase hex digits).
          s.email_hash = Sha256Digest::from_hex(e.email_hash).value_or(Sha256Digest{});
        } else if constexpr (std::is_same_v<E, Verified>) {
          s.verified = true;
        } else if constexpr (std::is_same_v<E, Suspended>) {
          s.suspended = true;
        } else if constexpr (std::is_same_v<E, Reinstated>) {
          s.suspended = false;
        } else if constexpr (std::is_same_v<E, TwoFactorEnabled>) {
          s.two_factor_enabled = true;
          s.unused_recovery_codes = {e.recovery_code_hashes.begin(), e.recovery_code_hashes.end()};
        } else if constexpr (std::is_same_v<E, RecoveryCodeUsed>) {
          s.unused_recovery_codes.erase(e.code_hash);
        } else if constexpr (std::is_same_v<E, ClientProfileUpdated>) {
          s.anonymous = e.anonymous;
        } else if constexpr (std::is_same_v<E, ErasureRequested>) {
          s.erasure_pending = true;
        } else if constexpr (std::is_same_v<E, ErasureRejected>) {
          s.erasure_pending = false;
        } else if constexpr (std::is_same_v<E, Erased>) {
          s.erased = true;
          s.erasure_pending = false;
          s.suspended = true;
          s.unused_recovery_codes.clear();
        }
        // Sign-ins, failures, reset requests and reveals are records; they change no state.
      },
      event);
}

NewEvent encode(const Event& event) {
  fields::DataBuilder b;
  write_data(b, event);
  return NewEvent{std::string(event_type(event)), 1, b.canonical()};
}

std::optional<Event> decode(std::string_view type, int version, const json::Value& data) {
  if (version != 1) return std::nullopt;
  auto e = read_event(type, data, kInvalidEvent);
  if (!e) return std::nullopt;
  return std::move(*e);
}

std::optional<Sha256Digest> Sha256Digest::from_hex(std::string_view text) {
  if (!is_lower_hex_sha256(text)) return std::nullopt;
  Sha256Digest d;
  for (size_t i = 0; i < d.bytes_.size(); ++i)
    d.bytes_[i] = static_cast<uint8_t>(hex::digit_value(text[2 * i]) << 4 |
                                       hex::digit_value(text[2 * i + 1]));
  d.set_ = true;
  return d;
}

std::string Sha256Digest::hex() const {
  return set_ ? hex::lower(bytes_.data(), bytes_.size()) : std::string();
}

std::string account_view_json(const State& s) {
  if (!s.registered) return "null";
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "anonymous");
  w.Bool(s.anonymous);
  json::key(w, "email_hash");
  json::write_string(w, s.email_hash.hex());
  json::key(w, "erased");
  w.Bool(s.erased);
  json::key(w, "erasure_pending");
  w.Bool(s.erasure_pending);
  json::key(w, "id");
  json::write_string(w, s.user_id.value().str());
  json::key(w, "role");
  json::write_string(w, to_string(s.role));
  json::key(w, "suspended");
  w.Bool(s.suspended);
  json::key(w, "two_factor_enabled");
  w.Bool(s.two_factor_enabled);
  json::key(w, "verified");
  w.Bool(s.verified);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace counsel::account
