// The AccountGate against a real PostgreSQL: what it loads at start, how a NOTIFY from the
// users projection reaches it, and its verdicts for suspension, revocation and staff
// two-factor.
#include <boost/test/unit_test.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <thread>

#include "infra/pg/connection_pool.hpp"
#include "infra/random_ids.hpp"
#include "projections/account_gate.hpp"
#include "projections/projection.hpp"
#include "tests/integration/test_database.hpp"

using namespace counsel;
using namespace std::chrono_literals;
using projections::AccessVerdict;

namespace {

struct GateWorld {
  testing::TestDatabase db;
  std::unique_ptr<pqxx::connection> conn = pg::open_connection(db.conninfo());

  GateWorld() { projections::ensure_read_models(*conn); }

  std::string add_user(const std::string& role) {
    const std::string id = new_uuid_v7().str();
    pqxx::work tx(*conn);
    tx.exec_params(
        "INSERT INTO read.users (user_id, role, email_hash, created_at)"
        " VALUES ($1::uuid, $2, $3, now())",
        id, role, "hash-" + id);
    tx.commit();
    return id;
  }

  // What the users projection does for account.suspended / reinstated / two_factor_enabled.
  void change(const std::string& id, const std::string& set_clause) {
    pqxx::work tx(*conn);
    tx.exec_params("UPDATE read.users SET " + set_clause + " WHERE user_id = $1::uuid", id);
    tx.exec_params("SELECT pg_notify($1, $2)", std::string(projections::kAccountStatusChannel), id);
    tx.commit();
  }
};

Timestamp seconds_from_now(int s) {
  return std::chrono::floor<std::chrono::seconds>(now_utc()) + std::chrono::seconds(s);
}

bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(account_gate_test)

BOOST_AUTO_TEST_CASE(suspension_reaches_a_running_gate_through_notify) {
  GateWorld w;
  const auto client = w.add_user("client");
  projections::AccountGate gate(w.db.conninfo());
  gate.start();
  const auto issued = seconds_from_now(-60);
  BOOST_TEST((gate.check(client, Role::client, issued) == AccessVerdict::allowed));

  w.change(client, "status = 'suspended', suspended_at = now()");
  BOOST_TEST(eventually(
      [&] { return gate.check(client, Role::client, issued) == AccessVerdict::suspended; }));
  // Reinstated: tokens from before the suspension stay revoked, newer ones work.
  w.change(client, "status = 'active'");
  BOOST_TEST(eventually(
      [&] { return gate.check(client, Role::client, issued) == AccessVerdict::revoked; }));
  BOOST_TEST((gate.check(client, Role::client, seconds_from_now(2)) == AccessVerdict::allowed));
  gate.stop();
}

BOOST_AUTO_TEST_CASE(a_gate_started_later_loads_what_happened_before) {
  GateWorld w;
  const auto suspended = w.add_user("counselor");
  const auto admin_with_2fa = w.add_user("admin");
  const auto admin_without = w.add_user("compliance");
  w.change(suspended, "status = 'suspended', suspended_at = now()");
  w.change(admin_with_2fa, "two_factor_enabled = true");
  projections::AccountGate gate(w.db.conninfo());
  gate.start();
  const auto issued = seconds_from_now(-60);
  BOOST_TEST((gate.check(suspended, Role::counselor, issued) == AccessVerdict::suspended));
  BOOST_TEST((gate.check(admin_with_2fa, Role::admin, issued) == AccessVerdict::allowed));
  // Fails closed: staff it has not seen with two-factor must set it up.
  BOOST_TEST((gate.check(admin_without, Role::compliance, issued) ==
              AccessVerdict::two_factor_setup_required));
  BOOST_TEST((gate.check(new_uuid_v7().str(), Role::admin, issued) ==
              AccessVerdict::two_factor_setup_required));
  BOOST_TEST((gate.check(new_uuid_v7().str(), Role::client, issued) == AccessVerdict::allowed));
  w.change(admin_without, "two_factor_enabled = true");
  BOOST_TEST(eventually([&] {
    return gate.check(admin_without, Role::compliance, issued) == AccessVerdict::allowed;
  }));
  gate.stop();
}

BOOST_AUTO_TEST_CASE(refresh_applies_a_change_without_waiting_for_notify) {
  GateWorld w;
  const auto client = w.add_user("client");
  projections::AccountGate gate(w.db.conninfo());
  gate.start();
  {
    // Changed without a NOTIFY: only refresh() can tell the gate.
    pqxx::work tx(*w.conn);
    tx.exec_params(
        "UPDATE read.users SET status = 'suspended', suspended_at = now()"
        " WHERE user_id = $1::uuid",
        client);
    tx.commit();
  }
  gate.refresh(*w.conn, client);
  BOOST_TEST((gate.check(client, Role::client, seconds_from_now(-5)) == AccessVerdict::suspended));
  gate.stop();
}

BOOST_AUTO_TEST_SUITE_END()
