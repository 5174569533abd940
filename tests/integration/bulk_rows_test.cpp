// Rows written in bulk (projections/bulk_rows.hpp) reach PostgreSQL exactly as given: every
// value survives the array literal, NULL stays NULL, and rows keep their order.
#include <boost/test/unit_test.hpp>
#include <pqxx/pqxx>

#include "infra/pg/connection_pool.hpp"
#include "projections/bulk_rows.hpp"
#include "tests/integration/test_database.hpp"

using namespace counsel;
using counsel::testing::TestDatabase;

namespace {

constexpr const char* kInsert =
    "INSERT INTO bulk_probe (n, value, tag)"
    " SELECT r.n::int, r.value, $3 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY"
    " AS r(n, value, ord) ORDER BY r.ord";

// The table kInsert writes to.
void create_probe_table(pqxx::transaction_base& tx) {
  tx.exec0("CREATE TABLE bulk_probe (id serial PRIMARY KEY, n int NOT NULL, value text, tag text)");
}

std::unique_ptr<pqxx::connection> connect_with_probe_table(const TestDatabase& db) {
  auto c = pg::open_connection(db.conninfo());
  pqxx::work tx(*c);
  create_probe_table(tx);
  tx.commit();
  return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bulk_rows_test)

BOOST_AUTO_TEST_CASE(values_reach_postgres_as_given_in_order) {
  TestDatabase db;
  auto c = connect_with_probe_table(db);
  const std::vector<std::optional<std::string>> values = {
      "plain",
      R"(quote " backslash \ comma , braces {} parens ())",
      std::nullopt,
      "NULL",
      "",
      "  spaces  ",
      "ünïcödé — ✓",
      "line\nbreak\ttab",
      R"(\N and \\ and "")",
  };
  projections::BulkRowSet set;
  for (size_t i = 0; i < values.size(); ++i)
    set.rows(kInsert, 2, {"fixed tag"}).add({std::to_string(i), values[i]});
  BOOST_TEST(!set.empty());
  BOOST_TEST(set.rows(kInsert, 2, {"fixed tag"}).size() == values.size());
  // One statement text is one shape: asking for it otherwise is a programming error.
  BOOST_CHECK_THROW(set.rows(kInsert, 2, {"other tag"}), std::logic_error);
  BOOST_CHECK_THROW(set.rows(kInsert, 3, {"fixed tag"}), std::logic_error);
  {
    pqxx::work tx(*c);
    set.write(tx);
    BOOST_TEST(set.empty());
    set.write(tx);  // nothing left: no statement, no rows
    tx.commit();
  }
  pqxx::work tx(*c);
  const auto rows = tx.exec("SELECT n, value, tag FROM bulk_probe ORDER BY id");
  BOOST_REQUIRE_EQUAL(rows.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    BOOST_TEST_CONTEXT("row " << i) {
      BOOST_TEST(rows[i][0].as<size_t>() == i);
      BOOST_TEST(rows[i][1].is_null() == !values[i].has_value());
      if (values[i]) BOOST_TEST(rows[i][1].as<std::string>() == *values[i]);
      BOOST_TEST(rows[i][2].as<std::string>() == "fixed tag");
    }
  }
}

// A statement marked returning_rows hands what it returned over once, under its tag; one
// statement cannot both return rows and announce or count misses.
BOOST_AUTO_TEST_CASE(returned_rows_are_handed_over_once_under_their_tag) {
  TestDatabase db;
  auto c = connect_with_probe_table(db);
  const std::string returning = std::string(kInsert) + " RETURNING n, value";
  projections::BulkRowSet set;
  set.rows(returning, 2, {"t"}).returning_rows("probe").add({"1", "one"});
  set.rows(returning, 2, {"t"}).returning_rows("probe").add({"2", std::nullopt});
  set.rows(kInsert, 2, {"t"}).add({"3", "not returned"});
  pqxx::work tx(*c);
  set.write(tx);
  auto returned = set.take_returned();
  BOOST_REQUIRE_EQUAL(returned.size(), 1u);
  BOOST_REQUIRE_EQUAL(returned["probe"].size(), 1u);  // one write, one result
  const auto& rows = returned["probe"][0];
  BOOST_REQUIRE_EQUAL(rows.size(), 2u);
  BOOST_TEST(rows[0][1].as<std::string>() == "one");
  BOOST_TEST(rows[1][1].is_null());
  BOOST_TEST(set.take_returned().empty());
  BOOST_CHECK_THROW(set.rows(returning, 2, {"t"}).returning_rows("other"), std::logic_error);
  BOOST_CHECK_THROW(set.rows(returning, 2, {"t"}).announcing_on("channel"), std::logic_error);
  BOOST_CHECK_THROW(set.rows(returning, 2, {"t"}).failing_on_misses("miss"), std::logic_error);
  BOOST_CHECK_THROW(set.rows(kInsert, 2, {"t"}).announcing_on("c").returning_rows("probe"),
                    std::logic_error);
}

BOOST_AUTO_TEST_CASE(a_row_of_the_wrong_width_is_refused_and_clear_drops_rows) {
  projections::BulkRows rows(kInsert, 2);
  BOOST_CHECK_THROW(rows.add({"only one"}), std::invalid_argument);
  rows.add({"1", "a"});
  BOOST_TEST(rows.size() == 1u);
  rows.clear();
  BOOST_TEST(rows.size() == 0u);
}

BOOST_AUTO_TEST_CASE(a_statement_announcing_on_a_channel_hands_its_results_over_once) {
  TestDatabase db;
  auto c = pg::open_connection(db.conninfo());
  {
    pqxx::work tx(*c);
    tx.exec0("CREATE TABLE announced_probe (n int PRIMARY KEY)");
    tx.commit();
  }
  constexpr const char* kInsertReturning =
      "WITH i AS (INSERT INTO announced_probe (n) SELECT r.n::int FROM unnest($1::text[]) AS"
      " r(n) ON CONFLICT DO NOTHING RETURNING n) SELECT 'new:' || n FROM i ORDER BY n";
  projections::BulkRowSet set;
  set.rows(kInsertReturning, 1).announcing_on("probe_channel").add({"1"});
  set.rows(kInsertReturning, 1).add({"2"});
  set.rows(kInsert, 2, {"tag"});  // a statement without a channel announces nothing
  BOOST_CHECK_THROW(set.rows(kInsertReturning, 1).announcing_on("another_channel"),
                    std::logic_error);
  {
    pqxx::work tx(*c);
    create_probe_table(tx);
    set.write(tx);
    // Rows added after a write and dropped by clear() never reach the statement.
    set.rows(kInsertReturning, 1).add({"3"});
    set.clear();
    set.rows(kInsertReturning, 1).add({"1"});  // already there: not new, not announced
    set.write(tx);
    tx.commit();
  }
  const auto announced = set.take_announcements();
  BOOST_REQUIRE_EQUAL(announced.size(), 1u);
  BOOST_TEST(announced.begin()->first == "probe_channel");
  BOOST_TEST(announced.begin()->second == (std::vector<std::string>{"new:1", "new:2"}),
             boost::test_tools::per_element());
  BOOST_TEST(set.take_announcements().empty());
}

BOOST_AUTO_TEST_CASE(a_statement_written_last_sees_the_batch_inserts_and_counts_its_misses) {
  TestDatabase db;
  auto c = connect_with_probe_table(db);
  // An update whose text sorts before the insert's: only written_last() puts it after.
  constexpr const char* kUpdate =
      "/* sorts first */ WITH u AS (UPDATE bulk_probe p SET value = r.value FROM "
      "unnest($1::text[], $2::text[])"
      " AS r(n, value) WHERE p.n = r.n::int RETURNING 1)"
      " SELECT cardinality($1::text[]) - (SELECT count(*) FROM u)";
  BOOST_REQUIRE(std::string(kUpdate) < std::string(kInsert));
  projections::BulkRowSet set;
  auto& updates = set.rows(kUpdate, 2).written_last().failing_on_misses("no such probe");
  BOOST_CHECK_THROW(updates.announcing_on("probe_channel"), std::logic_error);
  updates.add({"1", "changed"});
  set.rows(kInsert, 2, {"tag"}).add({"1", "inserted"});
  set.rows(kInsert, 2, {"tag"}).add({"2", "inserted"});
  {
    pqxx::work tx(*c);
    set.write(tx);
    BOOST_TEST(tx.exec1("SELECT string_agg(n || '=' || value, ',' ORDER BY n) FROM bulk_probe")[0]
                   .as<std::string>() == "1=changed,2=inserted");
    // A row that matches nothing fails the write with the statement's error, and its rows go.
    set.rows(kUpdate, 2).add({"2", "again"});
    set.rows(kUpdate, 2).add({"9", "nobody"});
    try {
      set.write(tx);
      BOOST_FAIL("a miss went unnoticed");
    } catch (const std::runtime_error& e) {
      BOOST_TEST(std::string(e.what()) == "no such probe");
    }
    BOOST_TEST(set.empty());
  }
  // A statement that does not return its miss count is a programming error.
  projections::BulkRowSet silent;
  silent.rows(kInsert, 2, {"tag"}).failing_on_misses("no count").add({"3", "x"});
  pqxx::work tx(*c);
  BOOST_CHECK_THROW(silent.write(tx), std::logic_error);
}

BOOST_AUTO_TEST_SUITE_END()
