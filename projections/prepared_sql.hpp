#pragma once
// Projections run the same few statements for every event. Running each as a prepared statement
// of the connection spares PostgreSQL parsing and planning it again per event: a rebuild issues
// them a million times, and on two shared cores that planning is a large part of its cost.
//
// The statement's name is derived from its text, so a connection prepares each text once, and
// names cannot collide with the hand-named statements of other modules ("log_*", the read
// queries'). Unqualified table names stay correct across schemas: PostgreSQL re-parses a
// prepared statement whenever search_path differs from the one it was planned with, so the same
// connection can serve the live schema and a rebuild's shadow schema.
#include <pqxx/pqxx>

#include <string>
#include <string_view>
#include <utility>

namespace counsel::projections {

// "counsel_proj_<hash of sql>".
std::string prepared_statement_name(std::string_view sql);

// Like tx.exec_params(sql, args...), as a prepared statement of tx's connection (registered on
// first use; libpqxx prepares it again after a reconnect).
template <typename... Args>
pqxx::result exec_prepared_sql(pqxx::transaction_base& tx, const std::string& sql, Args&&... args) {
  const std::string name = prepared_statement_name(sql);
  tx.conn().prepare(name, sql);  // only a lookup once the connection has it
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

// Like tx.exec_params0: throws pqxx::unexpected_rows when the statement returns rows.
template <typename... Args>
pqxx::result exec_prepared_sql0(pqxx::transaction_base& tx, const std::string& sql,
                                Args&&... args) {
  const std::string name = prepared_statement_name(sql);
  tx.conn().prepare(name, sql);
  return tx.exec_prepared0(name, std::forward<Args>(args)...);
}

}  // namespace counsel::projections
