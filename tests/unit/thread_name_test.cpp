#include "infra/thread_name.hpp"

#include <pthread.h>

#include <boost/test/unit_test.hpp>
#include <string>
#include <thread>

using namespace counsel;

namespace {

// The name `name_this_thread(given)` leaves on a thread of its own, as the kernel reports it.
std::string name_after(const char* given) {
  std::string seen;
  std::thread([&] {
    name_this_thread(given);
    char buffer[64] = {};
    BOOST_REQUIRE_EQUAL(pthread_getname_np(pthread_self(), buffer, sizeof buffer), 0);
    seen = buffer;
  }).join();
  return seen;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(thread_name_test)

BOOST_AUTO_TEST_CASE(a_thread_carries_the_name_it_was_given) {
  BOOST_TEST(name_after("projector") == "projector");
}

BOOST_AUTO_TEST_CASE(a_name_past_fifteen_characters_is_cut_there_rather_than_refused) {
  // pthread_setname_np refuses a name of 16 characters or more (ERANGE) and leaves the old one.
  BOOST_TEST(name_after("notification-relay-thread") == "notification-re");
}

BOOST_AUTO_TEST_SUITE_END()
