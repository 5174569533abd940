#pragma once
// A fresh, uniquely named database in the test cluster with all migrations applied, dropped
// again by the destructor, so integration tests never share state and can run in parallel.
// The cluster comes from COUNSEL_TEST_PG_HOST (its socket directory) and COUNSEL_TEST_PG_PORT;
// ctest's pg_cluster.start fixture (ops/pg-cluster) starts it.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <pqxx/nontransaction>
#include <random>
#include <stdexcept>
#include <string>

#include "infra/pg/connection_pool.hpp"
#include "infra/pg/migrations.hpp"

namespace counsel::testing {

class TestDatabase {
 public:
  TestDatabase() : name_(unique_name()) {
    {
      auto admin = pg::open_connection(admin_conninfo());
      pqxx::nontransaction tx(*admin);
      tx.exec("CREATE DATABASE " + tx.quote_name(name_));
    }
    conninfo_ = server_conninfo() + " dbname=" + name_;
    pg::apply_migrations(conninfo_);
  }

  ~TestDatabase() {
    try {
      auto admin = pg::open_connection(admin_conninfo());
      pqxx::nontransaction tx(*admin);
      // FORCE: a test that failed half-way may leave connections behind.
      tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
    } catch (...) {  // a leftover database in a throwaway cluster is harmless
    }
  }

  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& conninfo() const { return conninfo_; }
  const std::string& name() const { return name_; }

  // host/port/user of the test cluster, without dbname.
  static std::string server_conninfo() {
    const char* host = std::getenv("COUNSEL_TEST_PG_HOST");
    const char* port = std::getenv("COUNSEL_TEST_PG_PORT");
    if (host == nullptr || port == nullptr) {
      throw std::runtime_error(
          "COUNSEL_TEST_PG_HOST and COUNSEL_TEST_PG_PORT must name the test cluster "
          "(start one with: ops/pg-cluster start DIR PORT)");
    }
    return std::string("host=") + host + " port=" + port + " user=counsel";
  }
  static std::string admin_conninfo() { return server_conninfo() + " dbname=postgres"; }

 private:
  static std::string unique_name() {
    static std::atomic<int> counter{0};
    std::random_device random;
    return "counsel_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
           std::to_string(random() % 100000);
  }

  std::string name_;
  std::string conninfo_;
};

}  // namespace counsel::testing
