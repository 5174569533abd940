#pragma once
// The account aggregate (stream account-<user>): registration, role, password, sign-in record,
// admin status (verified, suspended), two-factor authentication and the client profile with
// its anonymous mode. Email uniqueness is reserved in PostgreSQL before the command is sent;
// secrets (password hash, TOTP secret) and personal fields arrive already encrypted
// ("enc:v1:...") with the user's subject key, so this aggregate never sees clear text. The api
// checks passwords, TOTP codes and reset tokens before it asks for a change; what the aggregate
// guards is who may act (holder, admin, system) and the state machine (a recovery code works
// once, a suspended account stays suspended until reinstated).
#include <array>
#include <cstdint>
#include <optional>
#include <set>
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

// Encrypted fields ("enc:v1:...") are opaque here; this bounds their size (base64 of the
// ciphertext: ~8 KiB of clear text, the largest profile field the api accepts).
inline constexpr size_t kMaxEncryptedChars = 12000;
inline constexpr size_t kMaxRecoveryCodes = 16;

enum class SecondFactor { none, totp, recovery_code };
const char* to_string(SecondFactor f);
enum class LoginFailure { invalid_password, totp_required, invalid_totp, suspended };
const char* to_string(LoginFailure f);

// ---- events ----
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
// The one-time token itself never enters the log: only that a reset was asked for, and until when.
struct PasswordResetRequested {
  static constexpr const char* type = "account.password_reset_requested";
  UserId user_id;
  Timestamp expires_at{};
  friend bool operator==(const PasswordResetRequested&, const PasswordResetRequested&) = default;
};
struct LoggedIn {
  static constexpr const char* type = "account.logged_in";
  UserId user_id;
  SecondFactor second_factor = SecondFactor::none;
  friend bool operator==(const LoggedIn&, const LoggedIn&) = default;
};
struct LoginFailed {
  static constexpr const char* type = "account.login_failed";
  UserId user_id;
  LoginFailure reason = LoginFailure::invalid_password;
  friend bool operator==(const LoginFailed&, const LoginFailed&) = default;
};
struct Verified {
  static constexpr const char* type = "account.verified";
  UserId user_id;
  friend bool operator==(const Verified&, const Verified&) = default;
};
struct Suspended {
  static constexpr const char* type = "account.suspended";
  UserId user_id;
  std::string reason;  // enc, subject user_id (it may describe the person); may be ""
  friend bool operator==(const Suspended&, const Suspended&) = default;
};
struct Reinstated {
  static constexpr const char* type = "account.reinstated";
  UserId user_id;
  friend bool operator==(const Reinstated&, const Reinstated&) = default;
};
struct TwoFactorEnabled {
  static constexpr const char* type = "account.two_factor_enabled";
  UserId user_id;
  std::string totp_secret;                        // enc, subject user_id
  std::vector<std::string> recovery_code_hashes;  // sha256 hex of each normalized code
  friend bool operator==(const TwoFactorEnabled&, const TwoFactorEnabled&) = default;
};
struct RecoveryCodeUsed {
  static constexpr const char* type = "account.recovery_code_used";
  UserId user_id;
  std::string code_hash;
  friend bool operator==(const RecoveryCodeUsed&, const RecoveryCodeUsed&) = default;
};
// The client profile, replaced as a whole. Everything personal is encrypted; "" = not given.
struct ClientProfileUpdated {
  static constexpr const char* type = "account.client_profile_updated";
  UserId user_id;
  std::string picture_url;         // enc or ""
  std::string bio;                 // enc or ""
  std::string address;             // enc or ""
  std::string preferences;         // enc (a JSON object's text) or ""
  std::string preferred_language;  // a language tag like "zu" or "en-ZA", or ""
  bool anonymous = false;
  std::string alias;  // enc; required when anonymous
  friend bool operator==(const ClientProfileUpdated&, const ClientProfileUpdated&) = default;
};
// An admin looked behind an anonymous client's alias; the reason is part of the record.
struct IdentityRevealed {
  static constexpr const char* type = "account.identity_revealed";
  UserId user_id;
  std::string reason;  // enc, subject user_id
  friend bool operator==(const IdentityRevealed&, const IdentityRevealed&) = default;
};

// Why an erasure waits for an admin: records a clinician must keep for a retention period.
enum class ErasureGrounds { clinical_records, counselor_records };
const char* to_string(ErasureGrounds g);
// The holder asked to be erased (POPIA s24) and an admin must approve it first.
struct ErasureRequested {
  static constexpr const char* type = "account.erasure_requested";
  UserId user_id;
  ErasureGrounds grounds = ErasureGrounds::clinical_records;
  friend bool operator==(const ErasureRequested&, const ErasureRequested&) = default;
};
// An admin turned a pending erasure request down (retention still applies).
struct ErasureRejected {
  static constexpr const char* type = "account.erasure_rejected";
  UserId user_id;
  friend bool operator==(const ErasureRejected&, const ErasureRejected&) = default;
};
// The account is erased: its subject key is shredded when this event is projected, so every
// sealed field about the person becomes unreadable for good while the events stay chained.
struct Erased {
  static constexpr const char* type = "account.erased";
  UserId user_id;
  std::optional<UserId> approved_by;  // the admin who approved a request; none when immediate
  friend bool operator==(const Erased&, const Erased&) = default;
};

using Event =
    std::variant<AccountRegistered, AccountPasswordChanged, PasswordResetRequested, LoggedIn,
                 LoginFailed, Verified, Suspended, Reinstated, TwoFactorEnabled, RecoveryCodeUsed,
                 ClientProfileUpdated, IdentityRevealed, ErasureRequested, ErasureRejected, Erased>;
std::string_view event_type(const Event& e);

// ---- state ----
// A SHA-256 digest kept as its 32 bytes: events carry it as 64 lowercase hex digits, which as a
// std::string is a 65-byte heap block besides the string itself, for each of the accounts a
// processor holds.
class Sha256Digest {
 public:
  // nullopt unless `text` is 64 lowercase hex digits.
  static std::optional<Sha256Digest> from_hex(std::string_view text);
  std::string hex() const;  // "" for the empty digest (never set)
  bool empty() const { return !set_; }
  friend bool operator==(const Sha256Digest&, const Sha256Digest&) = default;

 private:
  std::array<uint8_t, 32> bytes_{};
  bool set_ = false;
};

// What decisions and the account's view read, nothing more: a processor holds one per account
// of its partitions. The sealed email, display name, password hash and TOTP secret live in the
// events and the read models; no rule here reads them, and keeping copies cost about 420 bytes
// of an account's 650 (110,000 accounts in the 1M-event bench data set: 46 MB).
struct State {
  UserId user_id;  // from the stream key
  bool registered = false;
  Role role = Role::client;
  Sha256Digest email_hash;
  bool verified = false;
  bool suspended = false;
  bool two_factor_enabled = false;
  std::set<std::string> unused_recovery_codes;  // hashes
  bool anonymous = false;
  bool erasure_pending = false;
  bool erased = false;
};
State initial_state(const UserId& user_id);

// ---- commands ----
struct Register {
  UserId user_id;
  Role role = Role::client;
  std::string email;
  std::string email_hash;
  std::string display_name;
  std::string password_hash;
};
struct ChangePassword {  // the holder (or the system)
  UserId user_id;
  std::string password_hash;
};
struct RequestPasswordReset {  // system (the requester is not signed in)
  UserId user_id;
  Timestamp expires_at{};
};
struct RecordLogin {  // holder or system, after the api checked the credentials
  UserId user_id;
  SecondFactor second_factor = SecondFactor::none;
};
struct RecordLoginFailure {  // system
  UserId user_id;
  LoginFailure reason = LoginFailure::invalid_password;
};
enum class StatusAction { verify, suspend, reinstate };
struct ChangeStatus {  // admin or system
  StatusAction action = StatusAction::verify;
  UserId user_id;
  std::string reason;  // suspend only: enc or ""
};
struct EnableTwoFactor {  // the holder
  UserId user_id;
  std::string totp_secret;
  std::vector<std::string> recovery_code_hashes;
};
struct UseRecoveryCode {  // holder or system, at login
  UserId user_id;
  std::string code_hash;
};
struct UpdateClientProfile {  // the holder, a client
  ClientProfileUpdated profile;
};
struct RecordIdentityReveal {  // admin
  UserId user_id;
  std::string reason;
};
struct RequestErasure {  // the holder, when records must be kept until an admin approves
  UserId user_id;
  ErasureGrounds grounds = ErasureGrounds::clinical_records;
};
// The holder (a client with nothing a clinician must keep: approved_by none) or an admin
// approving a pending request (approved_by = that admin).
struct Erase {
  UserId user_id;
  std::optional<UserId> approved_by;
};
struct RejectErasure {  // admin
  UserId user_id;
};
using Command =
    std::variant<Register, ChangePassword, RequestPasswordReset, RecordLogin, RecordLoginFailure,
                 ChangeStatus, EnableTwoFactor, UseRecoveryCode, UpdateClientProfile,
                 RecordIdentityReveal, RequestErasure, Erase, RejectErasure>;

bool handles_command(std::string_view command_type);
Expected<Command, Rejection> parse_command(std::string_view command_type, const json::Value& data);
Expected<std::vector<Event>, Rejection> decide(const State& s, const Command& c, const Actor& actor,
                                               Timestamp now);
void evolve(State& s, const Event& e);
NewEvent encode(const Event& e);
std::optional<Event> decode(std::string_view type, int version, const json::Value& data);

// {id, role, email_hash, verified, suspended, two_factor_enabled, anonymous, erasure_pending,
// erased}; "null" before registration.
std::string account_view_json(const State& s);

}  // namespace counsel::account
