// murmur2 must agree bit for bit with Kafka's Java client (Utils.murmur2) and librdkafka's
// murmur2 partitioner, or streams would live on different partitions per producer.
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "infra/log/log.hpp"

using namespace counsel::log;

BOOST_AUTO_TEST_SUITE(partitioner_test)

BOOST_AUTO_TEST_CASE(murmur2_matches_the_kafka_java_client) {
  // From Kafka's UtilsTest.testMurmur2 (Java ints).
  BOOST_TEST(static_cast<int32_t>(murmur2("21")) == -973932308);
  BOOST_TEST(static_cast<int32_t>(murmur2("foobar")) == -790332482);
  BOOST_TEST(static_cast<int32_t>(murmur2("a-little-bit-long-string")) == -985981536);
  BOOST_TEST(static_cast<int32_t>(murmur2("a-little-bit-longer-string")) == -1486304829);
  BOOST_TEST(static_cast<int32_t>(murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")) ==
             -58897971);
  BOOST_TEST(static_cast<int32_t>(murmur2("abc")) == 479470107);
}

BOOST_AUTO_TEST_CASE(murmur2_matches_librdkafka_for_every_tail_length) {
  // From librdkafka's rdmurmur2 unit test (Java-compatible results).
  BOOST_TEST(murmur2("kafka") == 0xd067cf64u);
  BOOST_TEST(murmur2("giberish123456789") == 0x8f552b0cu);
  BOOST_TEST(murmur2("1234") == 0x9fc97b14u);
  BOOST_TEST(murmur2("234") == 0xe7c009cau);
  BOOST_TEST(murmur2("34") == 0x873930dau);
  BOOST_TEST(murmur2("4") == 0x5a4b5ca1u);
  BOOST_TEST(murmur2("PreAmbleWillBeRemoved,ThePrePartThatIs") == 0x78424f1cu);
  BOOST_TEST(murmur2("") == 0x106e08d9u);
}

BOOST_AUTO_TEST_CASE(partition_for_is_positive_modulo) {
  // -973932308 & 0x7fffffff = 1173551340; % 16 = 12.
  BOOST_TEST(partition_for("21", 16).value() == 1173551340 % 16);
  BOOST_TEST(partition_for("abc", 7).value() == 479470107 % 7);
  BOOST_TEST(partition_for("anything", 1).value() == 0);
  // Stable: a stream's partition never changes for a given count.
  BOOST_TEST(partition_for("counselor-0192f0c1-7a3e-7b11-9c4d-2f1e8a9b0c1d", 16).value() ==
             partition_for("counselor-0192f0c1-7a3e-7b11-9c4d-2f1e8a9b0c1d", 16).value());
}

BOOST_AUTO_TEST_CASE(keys_spread_evenly_over_partitions) {
  constexpr int partitions = 16;
  constexpr int keys = 16000;
  std::vector<int> counts(partitions, 0);
  for (int i = 0; i < keys; ++i) {
    const auto p = partition_for("account-" + std::to_string(i), partitions).value();
    BOOST_REQUIRE(p >= 0 && p < partitions);
    ++counts[p];
  }
  for (int c : counts) {
    BOOST_TEST(c > keys / partitions * 8 / 10);
    BOOST_TEST(c < keys / partitions * 12 / 10);
  }
}

BOOST_AUTO_TEST_CASE(topic_names_are_the_kafka_topics) {
  BOOST_TEST(topic_name(Topic::commands) == "counsel.commands.v1");
  BOOST_TEST(topic_name(Topic::events) == "counsel.events.v1");
  BOOST_TEST(topic_name(Topic::results) == "counsel.results.v1");
}

BOOST_AUTO_TEST_SUITE_END()
