#pragma once
// Schema migrations: numbered plain SQL files (NNN_name.sql) applied in order at start-up and
// recorded in public.schema_migrations. Each file runs in its own transaction under one
// transaction-level advisory lock, so processes starting together apply each file once.
// Files must not contain transaction control (BEGIN/COMMIT).
#include <filesystem>
#include <pqxx/connection>
#include <stdexcept>
#include <string>
#include <vector>

namespace counsel::pg {

class MigrationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Migration {
  int version = 0;
  std::string name;  // the file name without the number and ".sql", e.g. "log"
  std::filesystem::path file;
};

// The directory baked in at compile time (COUNSEL_MIGRATIONS_DIR: infra/pg/migrations).
std::filesystem::path default_migrations_dir();

// Reads the directory: files named NNN_name.sql sorted by number; other files are ignored.
// Throws MigrationError on duplicate numbers or an unreadable directory.
std::vector<Migration> list_migrations(const std::filesystem::path& dir);

// Applies every migration not yet recorded; returns the ones this call applied (empty when
// the schema was current). Throws MigrationError (with the file name and the server's
// message) if one fails; the failing file's transaction is rolled back, earlier files stay.
std::vector<Migration> apply_migrations(
    pqxx::connection& connection, const std::filesystem::path& dir = default_migrations_dir());

// Convenience: opens its own connection.
std::vector<Migration> apply_migrations(
    const std::string& conninfo, const std::filesystem::path& dir = default_migrations_dir());

}  // namespace counsel::pg
