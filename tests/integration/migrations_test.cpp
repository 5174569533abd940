// Migrations apply once, in order, even when several processes start at the same time.
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "infra/log/postgres_log.hpp"
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

// Migration 011 gives each (topic, partition) its own table; a log written before it moves over
// whole, and reads on the engine find it as it was.
BOOST_AUTO_TEST_CASE(an_existing_log_moves_into_a_table_per_partition) {
  EmptyDatabase db;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("counsel_migrations_before_011_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const auto& m : pg::list_migrations(pg::default_migrations_dir()))
    if (m.version < 11)
      std::filesystem::copy_file(m.file, dir / m.file.filename(),
                                 std::filesystem::copy_options::overwrite_existing);
  pg::apply_migrations(db.conninfo(), dir);
  std::filesystem::remove_all(dir);
  {
    auto c = pg::open_connection(db.conninfo());
    pqxx::work tx(*c);
    tx.exec0("INSERT INTO log.settings (name, value) VALUES ('partition_count', '4')");
    // Interleaved across partitions, as appends leave them.
    tx.exec0(
        "INSERT INTO log.records (topic, partition, \"offset\", key, value)"
        " SELECT 2, p, o, 'k' || p, format('{\"p\":%s,\"o\":%s}', p, o)"
        " FROM generate_series(0, 9) AS o, generate_series(0, 3) AS p ORDER BY o, p");
    tx.exec0(
        "INSERT INTO log.records (topic, partition, \"offset\", key, value)"
        " SELECT 1, 2, o, 'c', 'command ' || o FROM generate_series(0, 4) AS o");
    tx.exec0(
        "INSERT INTO log.heads (topic, partition, next_offset)"
        " SELECT 2, p, 10 FROM generate_series(0, 3) AS p UNION ALL SELECT 1, 2, 5");
    tx.commit();
  }
  const auto applied = pg::apply_migrations(db.conninfo());
  BOOST_REQUIRE_EQUAL(applied.size(), 1u);
  BOOST_TEST(applied.front().version == 11);
  BOOST_TEST(scalar(db.conninfo(), "SELECT count(*) FROM log.records") == 45);
  BOOST_TEST(scalar(db.conninfo(), "SELECT count(*) FROM log.records_t2_p3") == 10);
  BOOST_TEST(scalar(db.conninfo(), "SELECT count(*) FROM log.records_t1_p2") == 5);
  BOOST_TEST(scalar(db.conninfo(), "SELECT count(*) FROM log.records_t1_p0") == 0);
  BOOST_TEST(scalar(db.conninfo(), "SELECT count(*) FROM only log.records") == 0);
  BOOST_TEST(scalar(db.conninfo(),
                    "SELECT count(*) FROM pg_tables WHERE tablename ="
                    " 'records_before_011'") == 0);
  // Every topic's tables exist already, also those the old log had no record of (results):
  // processes started before the migration append to them without opening the log again.
  BOOST_TEST(scalar(db.conninfo(),
                    "SELECT count(*) FROM pg_inherits"
                    " WHERE inhparent = 'log.records'::regclass") == 12);
  BOOST_TEST(scalar(db.conninfo(), "SELECT count(*) FROM log.records_t3_p3") == 0);

  // Opening the log finds them all.
  auto log = log::make_postgres_log(db.conninfo(), 4, "migrated");
  BOOST_TEST(scalar(db.conninfo(),
                    "SELECT count(*) FROM pg_inherits"
                    " WHERE inhparent = 'log.records'::regclass") == 12);
  std::vector<std::string> values;
  auto read =
      log::read_partition_range(*log, log::Topic::events, log::PartitionId{1}, log::Offset{0},
                                log::Offset{10}, 3, [&](std::vector<log::Record>& records) {
                                  for (auto& r : records) values.push_back(r.value);
                                  return true;
                                });
  BOOST_REQUIRE(read.has_value());
  BOOST_REQUIRE_EQUAL(values.size(), 10u);
  BOOST_TEST(values.front() == "{\"p\":1,\"o\":0}");
  BOOST_TEST(values.back() == "{\"p\":1,\"o\":9}");
  auto appended =
      log->append({log::OutRecord{log::Topic::results, "r", "result", log::PartitionId{3}}});
  BOOST_REQUIRE(appended.has_value());
  BOOST_TEST(scalar(db.conninfo(), "SELECT count(*) FROM log.records_t3_p3") == 1);
}

// Every process opens the log at start: the first ones create the per-partition tables, at the
// same time, without failing each other; later opens find them all.
BOOST_AUTO_TEST_CASE(concurrent_first_opens_create_each_partition_table_once) {
  EmptyDatabase db;
  pg::apply_migrations(db.conninfo());
  std::vector<std::thread> openers;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    openers.emplace_back([&, i] {
      try {
        log::make_postgres_log(db.conninfo(), 8, "opener-" + std::to_string(i));
      } catch (const std::exception& e) {
        BOOST_TEST_MESSAGE(e.what());
        ++failures;
      }
    });
  }
  for (auto& t : openers) t.join();
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(scalar(db.conninfo(),
                    "SELECT count(*) FROM pg_inherits"
                    " WHERE inhparent = 'log.records'::regclass") == 24);
  auto log = log::make_postgres_log(db.conninfo(), 8, "later");
  std::vector<log::OutRecord> records;
  for (int p = 0; p < 8; ++p)
    records.push_back({log::Topic::events, "k", "e" + std::to_string(p), log::PartitionId{p}});
  BOOST_REQUIRE(log->append(records).has_value());
  for (int p = 0; p < 8; ++p)
    BOOST_TEST(scalar(db.conninfo(), "SELECT count(*) FROM log.records_t2_p" + std::to_string(p)) ==
               1);
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
