// ReadModelCache: an entry answers only at the version it was stored under, a slower request of
// an older version cannot replace a newer entry, and the entry and byte bounds evict the least
// recently used entries first.
#include <boost/test/unit_test.hpp>

#include "api/read_model_cache.hpp"

using counsel::api::ReadModelCache;

BOOST_AUTO_TEST_SUITE(read_model_cache_test)

BOOST_AUTO_TEST_CASE(an_entry_answers_only_at_its_version) {
  ReadModelCache cache;
  BOOST_TEST(!cache.find("zu/anxiety", 7).has_value());
  cache.store("zu/anxiety", 7, R"({"results":[1]})");
  BOOST_TEST(cache.find("zu/anxiety", 7).value() == R"({"results":[1]})");
  BOOST_TEST(!cache.find("zu/anxiety", 8).has_value());  // the read model moved on
  BOOST_TEST(!cache.find("xh/anxiety", 7).has_value());
  cache.store("zu/anxiety", 8, R"({"results":[2]})");
  BOOST_TEST(cache.find("zu/anxiety", 8).value() == R"({"results":[2]})");
  // A request that started before the change finishes last: it must not bring back old rows.
  cache.store("zu/anxiety", 7, R"({"results":[1]})");
  BOOST_TEST(cache.find("zu/anxiety", 8).value() == R"({"results":[2]})");
  const auto stats = cache.stats();
  BOOST_TEST(stats.entries == 1u);
  BOOST_TEST(stats.hits == 3u);
  BOOST_TEST(stats.misses == 3u);
}

BOOST_AUTO_TEST_CASE(the_entry_bound_evicts_the_least_recently_used) {
  ReadModelCache cache({.max_entries = 3, .max_bytes = 1 << 20});
  cache.store("a", 1, "A");
  cache.store("b", 1, "B");
  cache.store("c", 1, "C");
  BOOST_TEST(cache.find("a", 1).has_value());  // a is now the most recently used
  cache.store("d", 1, "D");
  BOOST_TEST(!cache.find("b", 1).has_value());
  BOOST_TEST(cache.find("a", 1).has_value());
  BOOST_TEST(cache.find("c", 1).has_value());
  BOOST_TEST(cache.find("d", 1).has_value());
  BOOST_TEST(cache.stats().entries == 3u);
}

BOOST_AUTO_TEST_CASE(the_byte_bound_holds_and_oversized_results_are_not_kept) {
  ReadModelCache cache({.max_entries = 100, .max_bytes = 1000});
  for (int i = 0; i < 20; ++i) cache.store("k" + std::to_string(i), 1, std::string(200, 'x'));
  const auto stats = cache.stats();
  BOOST_TEST(stats.bytes <= 1000u);
  BOOST_TEST(stats.entries >= 1u);
  BOOST_TEST(cache.find("k19", 1).has_value());
  BOOST_TEST(!cache.find("k0", 1).has_value());
  cache.store("huge", 1, std::string(5000, 'y'));
  BOOST_TEST(!cache.find("huge", 1).has_value());
  BOOST_TEST(cache.find("k19", 1).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
