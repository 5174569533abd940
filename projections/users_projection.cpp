// users, credentials, recovery_codes and client_profiles: who can sign in, how, with which
// role and status, and what a client tells about themself. Fed by the account stream only (one
// partition per user), so the order of one user's events is the log's order. Status changes
// are announced on counsel_account_status (delivered at commit) so every api process drops a
// suspended user's tokens at once.
#include "domain/ids.hpp"
#include "projections/event_data.hpp"
#include "projections/prepared_sql.hpp"
#include "projections/read_models.hpp"

namespace counsel::projections {
namespace {

class UsersProjection final : public Projection {
 public:
  std::string_view name() const override { return "users"; }
  // Not partition-local: credentials.email_hash is unique across accounts, and an erased
  // person's address may come back on a new account (another stream, another partition).
  std::vector<std::string> tables() const override {
    return {"users", "credentials", "recovery_codes", "client_profiles"};
  }

  std::vector<std::string> query_only_indexes() const override { return {"users_email_hash_idx"}; }

  void create_tables(pqxx::work& tx, const std::string& schema) const override {
    const auto users = qualified(tx, schema, "users");
    const auto credentials = qualified(tx, schema, "credentials");
    tx.exec0("CREATE TABLE IF NOT EXISTS " + users +
             " (user_id uuid PRIMARY KEY,"
             " role text NOT NULL,"
             " email text,"  // NULL once the subject is erased
             " email_hash text NOT NULL,"
             " display_name text,"
             " status text NOT NULL DEFAULT 'active',"
             " created_at timestamptz NOT NULL)");
    tx.exec0("CREATE INDEX IF NOT EXISTS users_email_hash_idx ON " + users + " (email_hash)");
    // Columns added after the first release: ADD COLUMN keeps read models built before them
    // (the events they derive from are newer than those columns).
    for (const char* column :
         {"verified boolean NOT NULL DEFAULT false",
          "two_factor_enabled boolean NOT NULL DEFAULT false",
          "anonymous boolean NOT NULL DEFAULT false", "alias text",
          "suspended_at timestamptz",  // the latest suspension; kept after reinstatement
          // A pending erasure request (NULL when none) and why it waits for an admin.
          "erasure_requested_at timestamptz", "erasure_grounds text", "erased_at timestamptz"})
      tx.exec0("ALTER TABLE " + users + " ADD COLUMN IF NOT EXISTS " + column);
    // Kept apart from users so that profile reads never touch password hashes.
    tx.exec0("CREATE TABLE IF NOT EXISTS " + credentials +
             " (user_id uuid PRIMARY KEY,"
             " email_hash text NOT NULL UNIQUE,"
             " password_hash text)");
    // The TOTP secret stays encrypted with the subject key here: only the sign-in path
    // decrypts it, and a database dump alone does not yield second factors.
    for (const char* column :
         {"two_factor_enabled boolean NOT NULL DEFAULT false", "totp_secret_enc text"})
      tx.exec0("ALTER TABLE " + credentials + " ADD COLUMN IF NOT EXISTS " + column);
    tx.exec0("CREATE TABLE IF NOT EXISTS " + qualified(tx, schema, "recovery_codes") +
             " (user_id uuid NOT NULL,"
             " code_hash text NOT NULL,"
             " used_at timestamptz,"
             " PRIMARY KEY (user_id, code_hash))");
    tx.exec0("CREATE TABLE IF NOT EXISTS " + qualified(tx, schema, "client_profiles") +
             " (user_id uuid PRIMARY KEY,"
             " picture_url text,"
             " bio text,"
             " address text,"
             " preferences jsonb,"
             " preferred_language text,"
             " anonymous boolean NOT NULL DEFAULT false,"
             " alias text,"
             " updated_at timestamptz NOT NULL)");
  }

  void apply(pqxx::work& tx, const EventEnvelope& e, ApplyContext& ctx) const override {
    if (e.type == "account.verified") {
      EventData d(e);
      exec_prepared_sql0(tx, "UPDATE users SET verified = true WHERE user_id = $1::uuid",
                         d.uuid("user_id").str());
      return;
    }
    if (e.type == "account.suspended" || e.type == "account.reinstated") {
      EventData d(e);
      const std::string user = d.uuid("user_id").str();
      if (e.type == "account.suspended") {
        exec_prepared_sql0(tx,
                           "UPDATE users SET status = 'suspended', suspended_at = $2::timestamptz"
                           " WHERE user_id = $1::uuid",
                           user, format_rfc3339(e.occurred_at));
      } else {
        exec_prepared_sql0(tx, "UPDATE users SET status = 'active' WHERE user_id = $1::uuid", user);
      }
      announce_status_change(tx, user);
      return;
    }
    if (e.type == "account.erasure_requested" || e.type == "account.erasure_rejected") {
      EventData d(e);
      const std::string user = d.uuid("user_id").str();
      if (e.type == "account.erasure_requested") {
        exec_prepared_sql0(
            tx,
            "UPDATE users SET erasure_requested_at = $2::timestamptz, erasure_grounds = $3"
            " WHERE user_id = $1::uuid",
            user, format_rfc3339(e.occurred_at), d.str("grounds"));
      } else {
        exec_prepared_sql0(tx,
                           "UPDATE users SET erasure_requested_at = NULL, erasure_grounds = NULL"
                           " WHERE user_id = $1::uuid",
                           user);
      }
      return;
    }
    if (e.type == "account.erased") {
      erased(tx, e, ctx);
      return;
    }
    if (e.type == "account.two_factor_enabled") {
      EventData d(e);
      const std::string user = d.uuid("user_id").str();
      exec_prepared_sql0(tx,
                         "UPDATE credentials SET two_factor_enabled = true, totp_secret_enc = $2"
                         " WHERE user_id = $1::uuid",
                         user, d.str("totp_secret"));
      exec_prepared_sql0(tx, "UPDATE users SET two_factor_enabled = true WHERE user_id = $1::uuid",
                         user);
      exec_prepared_sql0(tx, "DELETE FROM recovery_codes WHERE user_id = $1::uuid", user);
      exec_prepared_sql0(tx,
                         "INSERT INTO recovery_codes (user_id, code_hash)"
                         " SELECT $1::uuid, h FROM jsonb_array_elements_text($2::jsonb) AS a(h)"
                         " ON CONFLICT DO NOTHING",
                         user, json_string_array(d.strings("recovery_code_hashes")));
      announce_status_change(tx, user);
      return;
    }
    if (e.type == "account.recovery_code_used") {
      EventData d(e);
      exec_prepared_sql0(tx,
                         "UPDATE recovery_codes SET used_at = $3::timestamptz"
                         " WHERE user_id = $1::uuid AND code_hash = $2 AND used_at IS NULL",
                         d.uuid("user_id").str(), d.str("code_hash"),
                         format_rfc3339(e.occurred_at));
      return;
    }
    if (e.type == "account.client_profile_updated") {
      client_profile_updated(tx, e, ctx);
      return;
    }
    if (e.type == "account.password_changed") {
      EventData d(e);
      const Uuid user = d.uuid("user_id");
      // An erased subject's hash decrypts to NULL: nobody can log in as them any more.
      exec_prepared_sql0(tx, "UPDATE credentials SET password_hash = $2 WHERE user_id = $1::uuid",
                         user.str(), ctx.decryptor.decrypt(user, d.str("password_hash")));
      return;
    }
    if (e.type != "account.registered") return;
    EventData d(e);
    const Uuid user = d.uuid("user_id");
    const std::string role = d.str("role");
    if (!parse_role(role)) throw BadEventData("account.registered: unknown role " + role);
    const std::string email_hash = d.str("email_hash");
    const auto email = ctx.decryptor.decrypt(user, d.str("email"));
    const auto display_name = ctx.decryptor.decrypt(user, d.str("display_name"));
    const auto password_hash = ctx.decryptor.decrypt(user, d.str("password_hash"));
    exec_prepared_sql0(
        tx,
        "INSERT INTO users (user_id, role, email, email_hash, display_name, status, created_at)"
        " VALUES ($1::uuid, $2, lower($3), $4, $5, 'active', $6::timestamptz)"
        " ON CONFLICT (user_id) DO UPDATE SET role = EXCLUDED.role, email = EXCLUDED.email,"
        " email_hash = EXCLUDED.email_hash, display_name = EXCLUDED.display_name,"
        " created_at = EXCLUDED.created_at",
        user.str(), role, email, email_hash, display_name, format_rfc3339(e.occurred_at));
    exec_prepared_sql0(
        tx,
        "INSERT INTO credentials (user_id, email_hash, password_hash) VALUES ($1::uuid, $2, $3)"
        " ON CONFLICT (user_id) DO UPDATE SET email_hash = EXCLUDED.email_hash,"
        " password_hash = EXCLUDED.password_hash",
        user.str(), email_hash, password_hash);
  }

 private:
  static void announce_status_change(pqxx::work& tx, const std::string& user) {
    exec_prepared_sql(tx, "SELECT pg_notify($1, $2)", std::string(kAccountStatusChannel), user);
  }

  // The person is gone from every table here; the row stays as a tombstone ("erased") so ids
  // in other read models still resolve, and their tokens stop working (suspended_at).
  static void erased(pqxx::work& tx, const EventEnvelope& e, ApplyContext& ctx) {
    EventData d(e);
    const Uuid user = d.uuid("user_id");
    ctx.decryptor.shred(tx, user);
    exec_prepared_sql0(
        tx,
        "UPDATE users SET email = NULL, display_name = NULL, alias = NULL, status = 'erased',"
        " suspended_at = $2::timestamptz, erased_at = $2::timestamptz,"
        " erasure_requested_at = NULL, erasure_grounds = NULL, two_factor_enabled = false"
        " WHERE user_id = $1::uuid",
        user.str(), format_rfc3339(e.occurred_at));
    exec_prepared_sql0(tx, "DELETE FROM credentials WHERE user_id = $1::uuid", user.str());
    exec_prepared_sql0(tx, "DELETE FROM recovery_codes WHERE user_id = $1::uuid", user.str());
    exec_prepared_sql0(tx, "DELETE FROM client_profiles WHERE user_id = $1::uuid", user.str());
    // Identity data outside the log: the email claim (a hash of the address; releasing it also
    // lets the person register again) and any refresh tokens.
    exec_prepared_sql0(tx, "DELETE FROM identity.email_claims WHERE user_id = $1::uuid",
                       user.str());
    exec_prepared_sql0(tx, "DELETE FROM identity.refresh_tokens WHERE user_id = $1::uuid",
                       user.str());
    announce_status_change(tx, user.str());
  }

  static void client_profile_updated(pqxx::work& tx, const EventEnvelope& e, ApplyContext& ctx) {
    EventData d(e);
    const Uuid user = d.uuid("user_id");
    // "" means not given; an erased subject's fields decrypt to NULL.
    auto field = [&](const char* key) -> std::optional<std::string> {
      auto v = d.str(key);
      if (v.empty()) return std::nullopt;
      return ctx.decryptor.decrypt(user, v);
    };
    const auto picture = field("picture_url"), bio = field("bio"), address = field("address"),
               preferences = field("preferences"), alias = field("alias");
    const std::string language = d.str("preferred_language");
    const bool anonymous = d.boolean("anonymous");
    exec_prepared_sql0(
        tx,
        "INSERT INTO client_profiles (user_id, picture_url, bio, address, preferences,"
        " preferred_language, anonymous, alias, updated_at)"
        " VALUES ($1::uuid, $2, $3, $4, $5::jsonb, nullif($6, ''), $7, $8, $9::timestamptz)"
        " ON CONFLICT (user_id) DO UPDATE SET picture_url = EXCLUDED.picture_url,"
        " bio = EXCLUDED.bio, address = EXCLUDED.address, preferences = EXCLUDED.preferences,"
        " preferred_language = EXCLUDED.preferred_language, anonymous = EXCLUDED.anonymous,"
        " alias = EXCLUDED.alias, updated_at = EXCLUDED.updated_at",
        user.str(), picture, bio, address, preferences, language, anonymous, alias,
        format_rfc3339(e.occurred_at));
    exec_prepared_sql0(tx, "UPDATE users SET anonymous = $2, alias = $3 WHERE user_id = $1::uuid",
                       user.str(), anonymous, alias);
  }
};

}  // namespace

std::unique_ptr<Projection> make_users_projection() {
  return std::make_unique<UsersProjection>();
}

}  // namespace counsel::projections
