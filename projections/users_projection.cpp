// users and credentials: who can log in, with which role. Fed by account.registered and
// account.password_changed.
#include "domain/ids.hpp"
#include "projections/event_data.hpp"
#include "projections/read_models.hpp"

namespace counsel::projections {
namespace {

class UsersProjection final : public Projection {
 public:
  std::string_view name() const override { return "users"; }
  std::vector<std::string> tables() const override { return {"users", "credentials"}; }

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
    // Kept apart from users so that profile reads never touch password hashes.
    tx.exec0("CREATE TABLE IF NOT EXISTS " + credentials +
             " (user_id uuid PRIMARY KEY,"
             " email_hash text NOT NULL UNIQUE,"
             " password_hash text)");
  }

  void apply(pqxx::work& tx, const EventEnvelope& e, ApplyContext& ctx) const override {
    if (e.type == "account.password_changed") {
      EventData d(e);
      const Uuid user = d.uuid("user_id");
      // An erased subject's hash decrypts to NULL: nobody can log in as them any more.
      tx.exec_params0("UPDATE credentials SET password_hash = $2 WHERE user_id = $1::uuid",
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
    tx.exec_params0(
        "INSERT INTO users (user_id, role, email, email_hash, display_name, status, created_at)"
        " VALUES ($1::uuid, $2, lower($3), $4, $5, 'active', $6::timestamptz)"
        " ON CONFLICT (user_id) DO UPDATE SET role = EXCLUDED.role, email = EXCLUDED.email,"
        " email_hash = EXCLUDED.email_hash, display_name = EXCLUDED.display_name,"
        " created_at = EXCLUDED.created_at",
        user.str(), role, email, email_hash, display_name, format_rfc3339(e.occurred_at));
    tx.exec_params0(
        "INSERT INTO credentials (user_id, email_hash, password_hash) VALUES ($1::uuid, $2, $3)"
        " ON CONFLICT (user_id) DO UPDATE SET email_hash = EXCLUDED.email_hash,"
        " password_hash = EXCLUDED.password_hash",
        user.str(), email_hash, password_hash);
  }
};

}  // namespace

std::unique_ptr<Projection> make_users_projection() {
  return std::make_unique<UsersProjection>();
}

}  // namespace counsel::projections
