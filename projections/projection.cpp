#include "projections/projection.hpp"

#include "projections/read_models.hpp"

namespace counsel::projections {

std::vector<std::unique_ptr<Projection>> all_projections() {
  std::vector<std::unique_ptr<Projection>> out;
  out.push_back(make_users_projection());
  out.push_back(make_counselors_projection());
  out.push_back(make_sessions_projection());
  out.push_back(make_patients_projection());
  out.push_back(make_chat_projection());
  out.push_back(make_notifications_projection());
  out.push_back(make_audit_projection());
  return out;
}

std::unique_ptr<Projection> make_projection(std::string_view name) {
  for (auto& p : all_projections()) {
    if (p->name() == name) return std::move(p);
  }
  return nullptr;
}

std::vector<std::string> projection_names() {
  std::vector<std::string> out;
  for (const auto& p : all_projections()) out.emplace_back(p->name());
  return out;
}

void ensure_read_models(pqxx::connection& conn) {
  pqxx::work tx(conn);
  // Concurrent CREATE TABLE IF NOT EXISTS can still collide; the exclusive lock serializes.
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", kProjectionLockKey);
  tx.exec0(std::string("CREATE SCHEMA IF NOT EXISTS ") + kReadSchema);
  for (const auto& p : all_projections()) p->create_tables(tx, kReadSchema);
  tx.commit();
}

std::string qualified(pqxx::transaction_base& tx, const std::string& schema,
                      const std::string& table) {
  return tx.quote_name(schema) + "." + tx.quote_name(table);
}

}  // namespace counsel::projections
