#include "projections/profile_queries.hpp"

#include "domain/uuid.hpp"

namespace counsel::projections {
namespace {

const std::string kUserColumns =
    "u.user_id::text, u.role, u.email, u.display_name, u.status,"
    " (extract(epoch FROM u.created_at) * 1000)::int8,"
    // A counsellor's verification is recorded in their counselor stream (it gates booking).
    " u.verified OR coalesce((SELECT c.verified FROM read.counselors c"
    "                         WHERE c.counselor_id = u.user_id), false),"
    " u.two_factor_enabled,"
    " u.anonymous, u.alias";
constexpr int kUserColumnCount = 10;

const std::string kProfileColumns =
    "p.picture_url, p.bio, p.address, p.preferences::text, p.preferred_language,"
    " coalesce(p.anonymous, false), p.alias, (extract(epoch FROM p.updated_at) * 1000)::int8";

std::optional<std::string> text(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return std::string(f.c_str(), f.size());
}

std::optional<Timestamp> time_from_epoch_ms(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return Timestamp{std::chrono::milliseconds{f.as<int64_t>()}};
}

UserRecord read_user(const pqxx::row& row) {
  UserRecord u;
  u.id = row[0].c_str();
  u.role = row[1].c_str();
  u.email = text(row[2]);
  u.display_name = text(row[3]);
  u.status = row[4].c_str();
  u.created_at = time_from_epoch_ms(row[5]);
  u.verified = row[6].as<bool>();
  u.two_factor_enabled = row[7].as<bool>();
  u.anonymous = row[8].as<bool>();
  u.alias = text(row[9]);
  return u;
}

}  // namespace

std::optional<UserRecord> find_user_record(pqxx::connection& conn, const std::string& id) {
  if (!Uuid::parse(id)) return std::nullopt;
  pqxx::read_transaction tx(conn);
  const auto rows = tx.exec_params(
      "SELECT " + kUserColumns + " FROM read.users u WHERE u.user_id = $1::uuid", id);
  if (rows.empty()) return std::nullopt;
  return read_user(rows[0]);
}

std::optional<ClientRecord> find_client(pqxx::connection& conn, const std::string& id) {
  if (!Uuid::parse(id)) return std::nullopt;
  pqxx::read_transaction tx(conn);
  const auto rows = tx.exec_params("SELECT " + kUserColumns + ", " + kProfileColumns +
                                       " FROM read.users u"
                                       " LEFT JOIN read.client_profiles p ON p.user_id = u.user_id"
                                       " WHERE u.user_id = $1::uuid AND u.role = 'client'",
                                   id);
  if (rows.empty()) return std::nullopt;
  const auto& row = rows[0];
  ClientRecord c{read_user(row), {}};
  const int p = kUserColumnCount;
  c.profile.picture_url = text(row[p]);
  c.profile.bio = text(row[p + 1]);
  c.profile.address = text(row[p + 2]);
  c.profile.preferences = text(row[p + 3]);
  c.profile.preferred_language = text(row[p + 4]);
  c.profile.anonymous = row[p + 5].as<bool>();
  c.profile.alias = text(row[p + 6]);
  c.profile.updated_at = time_from_epoch_ms(row[p + 7]);
  return c;
}

}  // namespace counsel::projections
