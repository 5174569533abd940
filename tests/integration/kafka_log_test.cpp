// The Kafka log engine against librdkafka's in-process mock cluster: the same contract as the
// postgres engine (ordering and positions, key → partition, prompt wake-ups, group membership
// and rebalancing, fencing of revoked leases, commits that store records and position) plus
// start-up checks of the topics.
#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "infra/log/kafka_log.hpp"
#include "infra/log/kafka_mock_cluster.hpp"

using namespace counsel;
using namespace counsel::log;
using namespace std::chrono_literals;

namespace {

constexpr int partitions = 16;

KafkaLogOptions options_for(const KafkaMockCluster& cluster, std::string member = "test") {
  KafkaLogOptions options;
  options.brokers = cluster.bootstrap_servers();
  options.partitions = partitions;
  options.member = std::move(member);
  options.mock = true;
  options.delivery_timeout = 5000ms;
  return options;
}

// A mock cluster with the three topics, as `counsel serve --log kafka-mock` starts it.
struct MockWithTopics {
  MockWithTopics() { cluster.create_topics(partitions); }
  KafkaMockCluster cluster{3};
};

OutRecord event(std::string key, std::string value) {
  return OutRecord{Topic::events, std::move(key), std::move(value), std::nullopt};
}

OutRecord to_partition(Topic topic, int partition, std::string value) {
  return OutRecord{topic, "key-" + std::to_string(partition), std::move(value),
                   PartitionId{partition}};
}

std::vector<Position> all_partitions_from_zero() {
  std::vector<Position> from;
  for (int p = 0; p < partitions; ++p) from.push_back({PartitionId{p}, Offset{0}});
  return from;
}

// Reads `topic` until the reader reports it has caught up with every partition.
std::vector<Record> read_all(Log& log, Topic topic) {
  auto reader = log.reader();
  reader->assign(topic, all_partitions_from_zero());
  std::vector<Record> out;
  while (true) {
    auto batch = reader->poll(1000, 3s);
    BOOST_REQUIRE_MESSAGE(batch.has_value(), "poll failed");
    if (batch->empty()) return out;
    out.insert(out.end(), batch->begin(), batch->end());
  }
}

uint16_t port_of(const sockaddr_in& address) {
  return ntohs(address.sin_port);
}

// A plain TCP connection to 127.0.0.1:port (no Kafka client: what the broker's side of any
// connection gets does not depend on what is sent). Closed with the object.
struct RawConnection {
  explicit RawConnection(uint16_t port) : fd(::socket(AF_INET, SOCK_STREAM, 0)) {
    BOOST_REQUIRE(fd >= 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0);
    sockaddr_in mine{};
    socklen_t length = sizeof(mine);
    BOOST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&mine), &length) == 0);
    local_port = port_of(mine);
  }
  ~RawConnection() { ::close(fd); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  int fd;
  uint16_t local_port = 0;
};

// TCP_NODELAY of the socket the mock broker on `broker_port` accepted for `client`: found
// among this process's descriptors by its two ports. nullopt if it was not accepted within 5 s.
std::optional<bool> broker_side_nodelay(uint16_t broker_port, const RawConnection& client) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
      const int fd = std::stoi(entry.path().filename().string());
      sockaddr_in local{}, peer{};
      socklen_t local_length = sizeof(local), peer_length = sizeof(peer);
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) != 0 ||
          ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) != 0 ||
          local.sin_family != AF_INET || port_of(local) != broker_port ||
          port_of(peer) != client.local_port)
        continue;
      int nodelay = 0;
      socklen_t length = sizeof(nodelay);
      BOOST_REQUIRE(::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &length) == 0);
      return nodelay != 0;
    }
    std::this_thread::sleep_for(10ms);
  }
  return std::nullopt;
}

}  // namespace

// What every engine must do is in log_contract_test (run on both engines); this suite keeps
// what is particular to Kafka.
BOOST_AUTO_TEST_SUITE(kafka_log_test)

BOOST_AUTO_TEST_CASE(keys_land_where_java_clients_and_librdkafka_put_them) {
  MockWithTopics mock;
  KafkaLog log(options_for(mock.cluster));
  std::vector<OutRecord> records;
  for (int i = 0; i < 40; ++i) records.push_back(event("counselor-" + std::to_string(i), "ours"));
  auto appended = log.append(records);
  BOOST_REQUIRE(appended.has_value());
  for (size_t i = 0; i < records.size(); ++i) {
    BOOST_TEST((*appended)[i].partition.value() == log.partition_for(records[i].key).value());
  }

  // A plain librdkafka producer with the Java-compatible partitioner, choosing partitions
  // itself, puts every key in the same partition.
  std::array<char, 256> reason{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", mock.cluster.bootstrap_servers().c_str(),
                    reason.data(), reason.size());
  rd_kafka_conf_set(conf, "partitioner", "murmur2_random", reason.data(), reason.size());
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason.data(), reason.size());
  BOOST_REQUIRE(producer != nullptr);
  rd_kafka_topic_t* topic = rd_kafka_topic_new(producer, "counsel.events.v1", nullptr);
  BOOST_REQUIRE(topic != nullptr);
  std::string theirs_value = "theirs";
  for (const auto& record : records) {
    BOOST_REQUIRE(rd_kafka_produce(topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                                   theirs_value.data(), theirs_value.size(), record.key.data(),
                                   record.key.size(), nullptr) == 0);
  }
  BOOST_REQUIRE(rd_kafka_flush(producer, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_destroy(topic);
  rd_kafka_destroy(producer);

  int theirs = 0;
  for (const auto& r : read_all(log, Topic::events)) {
    BOOST_TEST(r.partition.value() == log.partition_for(r.key).value(), "key " << r.key);
    if (r.value == "theirs") ++theirs;
  }
  BOOST_TEST(theirs == 40);
}

BOOST_AUTO_TEST_CASE(topics_with_another_partition_count_are_refused) {
  KafkaMockCluster cluster(3);
  cluster.create_topics(8);
  try {
    KafkaLog log(options_for(cluster));
    BOOST_FAIL("a log over 8-partition topics started with --partitions 16");
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    BOOST_TEST_MESSAGE(message);
    BOOST_TEST(message.find("has 8 partitions but --partitions is 16") != std::string::npos);
  }
  auto options = options_for(cluster);
  options.partitions = 8;
  BOOST_CHECK_NO_THROW(KafkaLog{options});

  // Elsewhere missing topics are created through the Admin API, which the mock does not
  // implement: there the log refuses to start with a clear message.
  KafkaMockCluster empty(1);
  try {
    KafkaLog log(options_for(empty));
    BOOST_FAIL("a log started without its topics");
  } catch (const std::runtime_error& e) {
    BOOST_TEST_MESSAGE(e.what());
    BOOST_TEST(std::string(e.what()).find("is missing on the mock cluster") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(concurrent_appenders_get_increasing_offsets_in_their_order) {
  MockWithTopics mock;
  KafkaLog log(options_for(mock.cluster));
  constexpr int threads = 8;
  constexpr int appends_per_thread = 60;
  std::atomic<int> failures{0};
  std::mutex positions_mutex;
  std::map<std::pair<int, int64_t>, std::string> acknowledged;  // (partition, offset) → value
  std::vector<std::thread> workers;
  const auto started = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < appends_per_thread; ++i) {
        const std::string value = std::to_string(t) + ":" + std::to_string(i);
        std::vector<OutRecord> batch{to_partition(Topic::events, 0, value)};
        if (i % 10 == 0) batch.push_back(event("spread-" + value, value));
        auto appended = log.append(batch);
        if (!appended) {
          ++failures;
          continue;
        }
        std::lock_guard lock(positions_mutex);
        for (size_t k = 0; k < batch.size(); ++k) {
          const auto& position = (*appended)[k];
          BOOST_CHECK(acknowledged
                          .emplace(std::pair{position.partition.value(), position.offset.value()},
                                   batch[k].value)
                          .second);
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  const auto elapsed = std::chrono::steady_clock::now() - started;
  BOOST_TEST_MESSAGE(threads << " threads appended " << threads * appends_per_thread
                             << " batches in " << std::chrono::duration<double>(elapsed).count()
                             << " s");
  BOOST_TEST(failures.load() == 0);

  const auto records = read_all(log, Topic::events);
  BOOST_TEST(records.size() == acknowledged.size());
  std::map<int, int64_t> next_offset;
  std::map<std::string, int> last_i_per_thread;
  for (const auto& r : records) {
    // The idempotent producer writes no transaction markers: offsets are dense here.
    BOOST_TEST(r.offset.value() == next_offset[r.partition.value()]);
    next_offset[r.partition.value()] = r.offset.value() + 1;
    auto it = acknowledged.find({r.partition.value(), r.offset.value()});
    BOOST_REQUIRE(it != acknowledged.end());
    BOOST_TEST(it->second == r.value);
    if (r.partition.value() == 0 && r.key == "key-0") {
      const auto colon = r.value.find(':');
      const auto thread = r.value.substr(0, colon);
      const int i = std::stoi(r.value.substr(colon + 1));
      if (last_i_per_thread.contains(thread)) BOOST_TEST(i > last_i_per_thread[thread]);
      last_i_per_thread[thread] = i;
    }
  }
  for (const auto& [p, next] : next_offset) {
    auto end = log.end_offset(Topic::events, PartitionId{p});
    BOOST_REQUIRE(end.has_value());
    BOOST_TEST(end->value() == next);
  }
}

BOOST_AUTO_TEST_CASE(seek_moves_an_owned_partition_inside_and_outside_on_assigned) {
  MockWithTopics mock;
  KafkaLog log(options_for(mock.cluster, "member-1"));
  const int p = 5;
  BOOST_REQUIRE(
      log.append({to_partition(Topic::events, p, "e0"), to_partition(Topic::events, p, "e1"),
                  to_partition(Topic::events, p, "e2")}));

  // Like the processor: seek from inside on_assigned.
  class SeekingListener : public RebalanceListener {
   public:
    GroupConsumer* consumer = nullptr;
    int assigned = 0;
    void on_assigned(std::vector<std::unique_ptr<PartitionLease>> leases) override {
      for (auto& lease : leases) {
        if (lease->partition().value() == 5) consumer->seek(lease->partition(), Offset{2});
        ++assigned;
      }
    }
    void on_revoked(const std::vector<PartitionId>&) override {}
  } listener;
  auto consumer = log.join_group(Topic::events, "projector", listener);
  listener.consumer = consumer.get();
  std::vector<Record> got;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (got.empty() && std::chrono::steady_clock::now() < deadline) {
    auto batch = consumer->poll(10, 100ms);
    BOOST_REQUIRE(batch.has_value());
    got = *batch;
  }
  BOOST_TEST(listener.assigned == 16);
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_TEST(got[0].value == "e2");

  // Like the projector: seek back between polls.
  consumer->seek(PartitionId{p}, Offset{0});
  std::vector<std::string> values;
  const auto reread_deadline = std::chrono::steady_clock::now() + 5s;
  while (values.size() < 3 && std::chrono::steady_clock::now() < reread_deadline) {
    auto batch = consumer->poll(10, 100ms);
    BOOST_REQUIRE(batch.has_value());
    for (const auto& r : *batch) values.push_back(r.value);
  }
  BOOST_TEST(values == (std::vector<std::string>{"e0", "e1", "e2"}),
             boost::test_tools::per_element());
  consumer->close();
}

// A Kafka broker turns Nagle's algorithm off on its connections; the mock's sockets kept it on,
// so a response written while an earlier one was unacknowledged waited for the client's
// delayed ACK (40 ms): each transaction commit took ~45 ms. The mock cluster turns it off on
// its listeners, whose connections inherit it, and again on a broker brought back up.
BOOST_AUTO_TEST_CASE(the_mock_brokers_connections_send_without_nagles_delay) {
  KafkaMockCluster cluster{2};
  const auto ports = cluster.broker_ports();
  BOOST_REQUIRE_EQUAL(ports.size(), 2u);
  for (const uint16_t port : ports) {
    RawConnection client(port);
    const auto nodelay = broker_side_nodelay(port, client);
    BOOST_REQUIRE_MESSAGE(nodelay.has_value(), "broker on port " << port << " never accepted");
    BOOST_CHECK_MESSAGE(*nodelay, "Nagle's algorithm is on for port " << port);
  }
  // Only the brokers' sockets are changed: a client's keeps the kernel's default, also across
  // the sweep after a broker comes back up.
  RawConnection client(ports[1]);
  auto client_nodelay = [&] {
    int nodelay = -1;
    socklen_t length = sizeof(nodelay);
    BOOST_REQUIRE(::getsockopt(client.fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &length) == 0);
    return nodelay;
  };
  BOOST_TEST(client_nodelay() == 0);

  // Broker 1 is the first of the bootstrap servers (the mock lists its brokers by id). Brought
  // back up, it listens on a new socket (the mock closed the old one): its connections still
  // send at once.
  cluster.set_broker_down(1);
  cluster.set_broker_up(1);
  RawConnection after_restart(ports[0]);
  const auto restarted = broker_side_nodelay(ports[0], after_restart);
  BOOST_REQUIRE(restarted.has_value());
  BOOST_TEST(*restarted);
  BOOST_TEST(client_nodelay() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
