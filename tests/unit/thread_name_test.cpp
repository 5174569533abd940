#include "infra/thread_name.hpp"

#include <pthread.h>

#include <boost/test/unit_test.hpp>
#include <string>
#include <thread>

using namespace counsel;

namespace {

struct Seen {
  int status = -1;  // of pthread_getname_np
  std::string name;
};

// The name `name_this_thread(given)` leaves on a thread of its own, as the kernel reports it.
// Checked on the test's thread: Boost.Test's assertions belong there.
Seen name_after(const char* given) {
  Seen seen;
  std::thread([&] {
    name_this_thread(given);
    char buffer[64] = {};
    seen.status = pthread_getname_np(pthread_self(), buffer, sizeof buffer);
    seen.name = buffer;
  }).join();
  return seen;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(thread_name_test)

BOOST_AUTO_TEST_CASE(a_thread_carries_the_name_it_was_given) {
  const auto seen = name_after("projector");
  BOOST_TEST(seen.status == 0);
  BOOST_TEST(seen.name == "projector");
}

BOOST_AUTO_TEST_CASE(fifteen_characters_fit_and_a_longer_name_is_cut_there_rather_than_refused) {
  // pthread_setname_np refuses a name of 16 characters or more (ERANGE) and leaves the old one
  // (the test binary's name, inherited), so a refused name would show as that.
  BOOST_TEST(name_after("fifteen-chars-x").name == "fifteen-chars-x");
  BOOST_TEST(name_after("sixteen-chars-xy").name == "sixteen-chars-x");
  BOOST_TEST(name_after("notification-relay-thread").name == "notification-re");
}

BOOST_AUTO_TEST_SUITE_END()
