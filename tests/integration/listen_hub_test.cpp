// pg::ListenHub against a real PostgreSQL: the process's subscribers share one listening
// connection; each hears its own channel's payloads in order, after its on_listening; no
// callback runs once a handle is gone; and after the connection is lost the hub listens anew,
// calls on_listening again and goes on delivering.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <pqxx/nontransaction>
#include <string>
#include <thread>
#include <vector>

#include "infra/pg/connection_pool.hpp"
#include "infra/pg/listen_hub.hpp"
#include "tests/integration/test_database.hpp"

using namespace counsel;
using namespace std::chrono_literals;
using counsel::testing::TestDatabase;

namespace {

// What one subscriber saw: "listening" for each on_listening, then the payloads.
struct Seen {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> events;

  void add(const std::string& e) {
    {
      std::lock_guard lock(mutex);
      events.push_back(e);
    }
    changed.notify_all();
  }
  // Waits (up to 10 s) until `n` events were seen; returns them.
  std::vector<std::string> wait_for(size_t n) {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, 10s, [&] { return events.size() >= n; });
    return events;
  }
  size_t count() {
    std::lock_guard lock(mutex);
    return events.size();
  }
};

std::unique_ptr<pg::ListenHub::Subscription> follow(pg::ListenHub& hub, const std::string& channel,
                                                    Seen& seen) {
  return hub.subscribe(
      channel,
      [&seen](const std::vector<std::string>& payloads) {
        for (const auto& p : payloads) seen.add(p);
      },
      [&seen] { seen.add("listening"); });
}

void notify(pqxx::connection& c, const std::string& channel, const std::string& payload) {
  pqxx::nontransaction(c).exec_params("SELECT pg_notify($1, $2)", channel, payload);
}

// Other sessions of the test's database than `self`'s.
int64_t other_sessions(pqxx::connection& self) {
  return pqxx::nontransaction(self)
      .exec(
          "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
          " AND pid <> pg_backend_pid()")[0][0]
      .as<int64_t>();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(listen_hub_test)

BOOST_AUTO_TEST_CASE(subscribers_share_one_connection_and_hear_their_own_channels) {
  TestDatabase db;
  auto c = pg::open_connection(db.conninfo());
  auto hub = std::make_shared<pg::ListenHub>(db.conninfo());
  Seen a, b, also_a;
  auto sub_a = follow(*hub, "hub_a", a);
  auto sub_b = follow(*hub, "hub_b", b);
  auto sub_also_a = follow(*hub, "hub_a", also_a);
  // Each is told it is listening before it hears anything.
  BOOST_TEST(a.wait_for(1) == std::vector<std::string>{"listening"});
  BOOST_TEST(b.wait_for(1) == std::vector<std::string>{"listening"});
  BOOST_TEST(also_a.wait_for(1) == std::vector<std::string>{"listening"});
  BOOST_TEST(hub->connections() == 1u);
  BOOST_TEST(other_sessions(*c) == 1);  // the hub's one connection

  for (int i = 1; i <= 3; ++i) notify(*c, "hub_a", "a" + std::to_string(i));
  notify(*c, "hub_b", "b1");
  notify(*c, "hub_elsewhere", "x");
  const std::vector<std::string> expected_a{"listening", "a1", "a2", "a3"};
  BOOST_TEST(a.wait_for(4) == expected_a);
  BOOST_TEST(also_a.wait_for(4) == expected_a);
  BOOST_TEST((b.wait_for(2) == std::vector<std::string>{"listening", "b1"}));

  // A handle gone: nothing more for it, while the channel's other subscriber still hears.
  sub_also_a.reset();
  notify(*c, "hub_a", "a4");
  BOOST_TEST(a.wait_for(5).back() == "a4");
  BOOST_TEST(also_a.count() == 4u);

  // A subscriber added later is listening before it is told so, and hears what follows.
  Seen late;
  auto sub_late = follow(*hub, "hub_late", late);
  BOOST_TEST(late.wait_for(1) == std::vector<std::string>{"listening"});
  notify(*c, "hub_late", "l1");
  BOOST_TEST((late.wait_for(2) == std::vector<std::string>{"listening", "l1"}));
  BOOST_TEST(hub->connections() == 1u);
}

BOOST_AUTO_TEST_CASE(after_a_lost_connection_it_listens_anew_and_says_so) {
  TestDatabase db;
  auto c = pg::open_connection(db.conninfo());
  auto hub = std::make_shared<pg::ListenHub>(db.conninfo());
  Seen seen;
  auto sub = follow(*hub, "hub_c", seen);
  BOOST_REQUIRE(seen.wait_for(1).size() == 1u);
  notify(*c, "hub_c", "before");
  BOOST_REQUIRE(seen.wait_for(2).size() == 2u);

  BOOST_TEST(pqxx::nontransaction(*c)
                 .exec("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                       " WHERE datname = current_database() AND pid <> pg_backend_pid()")[0][0]
                 .as<int64_t>() == 1);
  // The hub finds out at its next wait's end at the latest (a keepalive every 5 s), reconnects
  // and tells its subscriber to look again.
  const auto events = seen.wait_for(3);
  BOOST_REQUIRE(events.size() >= 3u);
  BOOST_TEST(events[2] == "listening");
  BOOST_TEST(hub->connections() == 2u);
  notify(*c, "hub_c", "after");
  BOOST_TEST(seen.wait_for(4).back() == "after");
}

BOOST_AUTO_TEST_CASE(the_process_shares_one_hub_per_database_while_someone_holds_it) {
  TestDatabase db;
  auto first = pg::ListenHub::shared_for(db.conninfo());
  auto second = pg::ListenHub::shared_for(db.conninfo());
  BOOST_TEST(first.get() == second.get());
  std::weak_ptr<pg::ListenHub> gone = first;
  first.reset();
  second.reset();
  BOOST_TEST(gone.expired());
}

BOOST_AUTO_TEST_SUITE_END()
