// pg::StopSignal and pg::await_notification against a real PostgreSQL: a wait delivers a
// NOTIFY to its receiver, a raised signal ends a long wait early (before it starts or during
// it), and the signal can be cleared for a restart. pg::PostCommitNotifier sends what it is
// given, once per payload and channel, and what is queued when it stops.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <pqxx/nontransaction>
#include <pqxx/notification>
#include <string>
#include <thread>
#include <vector>

#include "infra/pg/connection_pool.hpp"
#include "infra/pg/post_commit_notifier.hpp"
#include "infra/pg/stop_signal.hpp"
#include "tests/integration/test_database.hpp"

using namespace counsel;
using namespace std::chrono_literals;
using counsel::testing::TestDatabase;

namespace {

class Collector final : public pqxx::notification_receiver {
 public:
  Collector(pqxx::connection& c, const std::string& channel)
      : pqxx::notification_receiver(c, channel) {}
  void operator()(const std::string& payload, int) override { payloads.push_back(payload); }
  std::vector<std::string> payloads;
};

void notify(const std::string& conninfo, const std::string& channel, const std::string& payload) {
  auto c = pg::open_connection(conninfo);
  pqxx::nontransaction tx(*c);
  tx.exec("SELECT pg_notify(" + tx.quote(channel) + ", " + tx.quote(payload) + ")");
}

// Waits in slices of 5 s (up to 30 s) until a wait delivers something; returns how many.
int first_delivery(pqxx::connection& conn, const pg::StopSignal& stop) {
  int delivered = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (delivered == 0 && std::chrono::steady_clock::now() < deadline)
    delivered = pg::await_notification(conn, stop, 5s);
  return delivered;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(stop_signal_test)

BOOST_AUTO_TEST_CASE(a_wait_delivers_a_notification_to_its_receiver) {
  TestDatabase db;
  auto conn = pg::open_connection(db.conninfo());
  Collector collector(*conn, "stop_signal_test");
  pg::StopSignal stop;
  std::jthread sender([&] {
    std::this_thread::sleep_for(100ms);
    notify(db.conninfo(), "stop_signal_test", "hello");
  });
  BOOST_TEST(first_delivery(*conn, stop) == 1);
  BOOST_TEST(collector.payloads == std::vector<std::string>{"hello"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_raised_signal_ends_a_long_wait_early) {
  TestDatabase db;
  auto conn = pg::open_connection(db.conninfo());
  Collector collector(*conn, "stop_signal_test");
  pg::StopSignal stop;
  BOOST_TEST(!stop.raised());
  const auto before = std::chrono::steady_clock::now();
  std::jthread stopper([&] {
    std::this_thread::sleep_for(100ms);
    stop.raise();
  });
  BOOST_TEST(pg::await_notification(*conn, stop, 60s) == 0);
  stopper.join();
  BOOST_TEST(stop.raised());
  // Raised before the wait: no wait at all, and it stays raised for every later wait.
  BOOST_TEST(pg::await_notification(*conn, stop, 60s) == 0);
  BOOST_TEST(stop.sleep_for(60s));
  BOOST_TEST((std::chrono::steady_clock::now() - before < 30s));
  BOOST_TEST(collector.payloads.empty());
}

BOOST_AUTO_TEST_CASE(a_cleared_signal_waits_again_and_still_hears_notifications) {
  TestDatabase db;
  auto conn = pg::open_connection(db.conninfo());
  Collector collector(*conn, "stop_signal_test");
  pg::StopSignal stop;
  stop.raise();
  stop.raise();  // idempotent: one clear re-arms it
  stop.clear();
  BOOST_TEST(!stop.raised());
  BOOST_TEST(!stop.sleep_for(20ms));  // slept the whole time
  notify(db.conninfo(), "stop_signal_test", "again");
  BOOST_TEST(first_delivery(*conn, stop) == 1);
  BOOST_TEST(collector.payloads == std::vector<std::string>{"again"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_post_commit_notifier_sends_each_payload_once_and_flushes_on_stop) {
  TestDatabase db;
  auto conn = pg::open_connection(db.conninfo());
  Collector first(*conn, "notifier_a");
  Collector second(*conn, "notifier_b");
  pg::StopSignal stop;
  {
    pg::PostCommitNotifier notifier(db.conninfo());
    notifier.notify("notifier_a", {"x:1", "quote \" and \\ backslash", "x:1"});
    notifier.notify("notifier_b", {""});
    notifier.notify("notifier_a", {});
    // Of the numbers queued together for one key, the greatest goes out.
    notifier.notify_greatest("notifier_b", {{"2:5", 9}, {"2:5", 40}, {"2:6", 1}});
    // Queued right before the notifier goes: still sent.
    notifier.notify("notifier_b", {"last"});
  }
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while ((first.payloads.size() < 2 || second.payloads.size() < 4) &&
         std::chrono::steady_clock::now() < deadline)
    pg::await_notification(*conn, stop, 1s);
  std::sort(first.payloads.begin(), first.payloads.end());
  std::sort(second.payloads.begin(), second.payloads.end());
  BOOST_TEST(first.payloads == (std::vector<std::string>{"quote \" and \\ backslash", "x:1"}),
             boost::test_tools::per_element());
  BOOST_TEST(second.payloads == (std::vector<std::string>{"", "2:5:40", "2:6:1", "last"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
