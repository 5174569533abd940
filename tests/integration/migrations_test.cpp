// Migrations apply once, in order, even when several processes start at the same time.
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "infra/pg/connection_pool.hpp"
#include "infra/pg/migrations.hpp"
#include "tests/integration/test_database.hpp"

using namespace counsel;
using counsel::testing::TestDatabase;

namespace {

// An empty database next to the test cluster (TestDatabase would migrate it already).
class EmptyDatabase {
 public:
  EmptyDatabase()
      : name_("counsel_empty_" + std::to_string(::getpid()) + "_" + std::to_string(next_++)) {
    auto admin = pg::open_connection(TestDatabase::admin_conninfo());
    pqxx::nontransaction tx(*admin);
    tx.exec("CREATE DATABASE " + tx.quote_name(name_));
  }
  ~EmptyDatabase() {
    try {
      auto admin = pg::open_connection(TestDatabase::admin_conninfo());
      pqxx::nontransaction tx(*admin);
      tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
    } catch (...) {
    }
  }
  std::string conninfo() const { return TestDatabase::server_conninfo() + " dbname=" + name_; }

 private:
  static inline std::atomic<int> next_{0};
  std::string name_;
};

int64_t scalar(const std::string& conninfo, const std::string& sql) {
  auto c = pg::open_connection(conninfo);
  pqxx::nontransaction tx(*c);
  return tx.exec(sql)[0][0].as<int64_t>();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(migrations_test)

BOOST_AUTO_TEST_CASE(lists_the_shipped_migrations_in_order) {
  const auto migrations = pg::list_migrations(pg::default_migrations_dir());
  BOOST_REQUIRE_GE(migrations.size(), 3u);
  BOOST_TEST(migrations[0].version == 1);
  BOOST_TEST(migrations[0].name == "log");
  BOOST_TEST(migrations[1].name == "identity");
  BOOST_TEST(migrations[2].name == "projection");
  for (size_t i = 1; i < migrations.size(); ++i) {
    BOOST_TEST(migrations[i - 1].version < migrations[i].version);
  }
}

BOOST_AUTO_TEST_CASE(concurrent_starters_apply_each_file_once) {
  EmptyDatabase db;
  std::vector<std::thread> starters;
  std::atomic<size_t> applied{0};
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    starters.emplace_back([&] {
      try {
        applied += pg::apply_migrations(db.conninfo()).size();
      } catch (const std::exception& e) {
        BOOST_TEST_MESSAGE(e.what());
        ++failures;
      }
    });
  }
  for (auto& t : starters) t.join();
  const auto shipped = pg::list_migrations(pg::default_migrations_dir()).size();
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(applied.load() == shipped);
  BOOST_TEST(scalar(db.conninfo(), "SELECT count(*) FROM public.schema_migrations") ==
             static_cast<int64_t>(shipped));
  BOOST_TEST(pg::apply_migrations(db.conninfo()).empty());
  for (const char* table :
       {"log.records", "log.heads", "log.partition_owners", "log.group_positions",
        "log.group_members", "log.settings", "identity.email_claims", "identity.subject_keys",
        "identity.refresh_tokens", "projection.checkpoints", "projection.quarantine"}) {
    BOOST_TEST(scalar(db.conninfo(), std::string("SELECT count(*) FROM ") + table) == 0);
  }
  BOOST_TEST(
      scalar(db.conninfo(),
             "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'read'") == 1);
}

BOOST_AUTO_TEST_CASE(a_failing_migration_is_rolled_back_and_reported) {
  EmptyDatabase db;
  const auto dir =
      std::filesystem::temp_directory_path() / ("counsel_migrations_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "001_good.sql") << "CREATE TABLE public.good (id int);";
  std::ofstream(dir / "002_bad.sql") << "CREATE TABLE public.half (id int); SELECT no_such_column;";
  std::ofstream(dir / "notes.txt") << "ignored";
  try {
    pg::apply_migrations(db.conninfo(), dir);
    BOOST_FAIL("the bad migration must fail");
  } catch (const pg::MigrationError& e) {
    BOOST_TEST(std::string(e.what()).find("002_bad.sql") != std::string::npos);
  }
  BOOST_TEST(scalar(db.conninfo(), "SELECT count(*) FROM public.schema_migrations") == 1);
  BOOST_TEST(scalar(db.conninfo(),
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = 'half'") ==
             0);
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(the_pool_hands_out_and_replaces_connections) {
  TestDatabase db;
  pg::PgPool pool(db.conninfo(), 2);
  int backend = 0;
  {
    auto a = pool.acquire(std::chrono::milliseconds(1000));
    auto b = pool.acquire(std::chrono::milliseconds(1000));
    backend = a->backendpid();
    BOOST_CHECK_THROW(pool.acquire(std::chrono::milliseconds(50)), pg::PgUnavailable);
    // Kill a's session: the next use breaks and the pool drops it on release.
    {
      pqxx::nontransaction tx(*b);
      tx.exec_params("SELECT pg_terminate_backend($1)", backend);
    }
    BOOST_CHECK_THROW(pqxx::nontransaction(*a).exec("SELECT 1"), pqxx::broken_connection);
  }
  std::set<int> backends;
  {
    auto a = pool.acquire(std::chrono::milliseconds(1000));
    auto b = pool.acquire(std::chrono::milliseconds(1000));
    for (auto* lease : {&a, &b}) {
      pqxx::nontransaction tx(**lease);
      tx.exec("SELECT 1");
      backends.insert((*lease)->backendpid());
    }
  }
  BOOST_TEST(backends.size() == 2u);
  BOOST_TEST(!backends.contains(backend));

  pg::PgPool unreachable("host=/nonexistent port=1 user=counsel dbname=postgres", 1);
  BOOST_CHECK_THROW(unreachable.acquire(std::chrono::milliseconds(100)), pg::PgUnavailable);
}

BOOST_AUTO_TEST_SUITE_END()
