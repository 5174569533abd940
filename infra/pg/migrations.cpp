#include "infra/pg/migrations.hpp"

#include <cstdlib>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <pqxx/pqxx>
#include <set>
#include <sstream>

#include "infra/pg/connection_pool.hpp"

#ifndef COUNSEL_MIGRATIONS_DIR
#error "COUNSEL_MIGRATIONS_DIR must be defined by the build"
#endif

namespace counsel::pg {
namespace {

// Any fixed number works; it only has to differ from other advisory locks in the database
// (the log engine uses the two-key form, which lives in a separate key space).
constexpr long long migration_lock_key = 0x636f756e73656cLL;  // "counsel"

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw MigrationError("cannot read migration " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::filesystem::path default_migrations_dir() {
  // An installed binary (e.g. the container image) points here at its data files.
  if (const char* dir = std::getenv("COUNSEL_MIGRATIONS_DIR"); dir && *dir) return dir;
  return COUNSEL_MIGRATIONS_DIR;
}

std::vector<Migration> list_migrations(const std::filesystem::path& dir) {
  std::vector<Migration> migrations;
  std::error_code error;
  std::filesystem::directory_iterator it(dir, error);
  if (error) {
    throw MigrationError("cannot list migrations in " + dir.string() + ": " + error.message());
  }
  for (const auto& entry : it) {
    if (!entry.is_regular_file() || entry.path().extension() != ".sql") continue;
    const std::string stem = entry.path().stem().string();
    const auto underscore = stem.find('_');
    if (underscore == 0 || underscore == std::string::npos ||
        !std::all_of(stem.begin(), stem.begin() + static_cast<std::ptrdiff_t>(underscore),
                     [](unsigned char c) { return std::isdigit(c) != 0; })) {
      continue;
    }
    migrations.push_back(
        {std::stoi(stem.substr(0, underscore)), stem.substr(underscore + 1), entry.path()});
  }
  std::sort(migrations.begin(), migrations.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (size_t i = 1; i < migrations.size(); ++i) {
    if (migrations[i].version == migrations[i - 1].version) {
      throw MigrationError("two migrations share number " + std::to_string(migrations[i].version) +
                           ": " + migrations[i - 1].file.filename().string() + " and " +
                           migrations[i].file.filename().string());
    }
  }
  return migrations;
}

std::vector<Migration> apply_migrations(pqxx::connection& connection,
                                        const std::filesystem::path& dir) {
  const auto migrations = list_migrations(dir);
  std::vector<Migration> applied;
  // Every process start runs this, and usually nothing is pending: learn that in two round
  // trips instead of five per migration under the lock.
  std::set<int> done_before;
  {
    pqxx::nontransaction tx(connection, "migration check");
    if (!tx.exec("SELECT to_regclass('public.schema_migrations')")[0][0].is_null())
      for (const auto& row : tx.exec("SELECT version FROM public.schema_migrations"))
        done_before.insert(row[0].as<int>());
  }
  for (const auto& migration : migrations) {
    if (done_before.contains(migration.version)) continue;
    const std::string sql = read_file(migration.file);
    try {
      pqxx::work tx(connection, "migration");
      tx.exec_params("SELECT pg_advisory_xact_lock($1)", migration_lock_key);
      // Created under the lock so concurrent first starts do not race on it.
      tx.exec(
          "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
          " version int PRIMARY KEY, name text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT now())");
      const auto done = tx.exec_params("SELECT 1 FROM public.schema_migrations WHERE version = $1",
                                       migration.version);
      if (!done.empty()) continue;  // tx aborts harmlessly: nothing was written
      tx.exec(sql);
      tx.exec_params("INSERT INTO public.schema_migrations(version, name) VALUES ($1, $2)",
                     migration.version, migration.name);
      tx.commit();
      applied.push_back(migration);
    } catch (const pqxx::sql_error& e) {
      throw MigrationError("migration " + migration.file.filename().string() +
                           " failed: " + e.what());
    }
  }
  return applied;
}

std::vector<Migration> apply_migrations(const std::string& conninfo,
                                        const std::filesystem::path& dir) {
  auto connection = open_connection(conninfo);
  return apply_migrations(*connection, dir);
}

}  // namespace counsel::pg
