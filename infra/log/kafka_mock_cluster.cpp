#include "infra/log/kafka_mock_cluster.hpp"

#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "infra/log/log.hpp"
#include "infra/logging.hpp"

namespace counsel::log {
namespace {

void check(rd_kafka_resp_err_t error, const std::string& what) {
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("kafka mock: " + what + ": " + rd_kafka_err2str(error));
  }
}

}  // namespace

KafkaMockCluster::KafkaMockCluster(int brokers) : brokers_(brokers) {
  if (brokers < 1) throw std::invalid_argument("a mock cluster needs at least one broker");
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::array<char, 512> reason{};
  // The owning handle never talks to a cluster; without this it would warn about having no
  // bootstrap servers.
  rd_kafka_conf_set(conf, "log_level", "3", reason.data(), reason.size());
  owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason.data(), reason.size());
  if (owner_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("kafka mock: cannot create its handle: ") + reason.data());
  }
  cluster_ = rd_kafka_mock_cluster_new(owner_, brokers);
  if (cluster_ == nullptr) {
    rd_kafka_destroy(owner_);
    throw std::runtime_error("kafka mock: cannot start the mock cluster");
  }
  bootstrap_servers_ = rd_kafka_mock_cluster_bootstraps(cluster_);
  // Before any client connects, so every connection inherits it from its listener.
  if (const int set = disable_nagle_on_broker_listeners(); set < brokers) {
    logging::warn("kafka-mock", "Nagle's algorithm stays on for " + std::to_string(brokers - set) +
                                    " of the mock's " + std::to_string(brokers) +
                                    " brokers: their responses may wait 40 ms for an ACK");
  }
}

KafkaMockCluster::~KafkaMockCluster() {
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(owner_);
}

void KafkaMockCluster::create_topics(int partitions, int replication_factor) {
  for (Topic topic : {Topic::commands, Topic::events, Topic::results}) {
    create_topic(std::string(topic_name(topic)), partitions, replication_factor);
  }
}

void KafkaMockCluster::create_topic(const std::string& name, int partitions,
                                    int replication_factor) {
  check(rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions,
                                   std::min(replication_factor, brokers_)),
        "cannot create topic " + name);
}

void KafkaMockCluster::set_broker_down(int32_t broker) {
  check(rd_kafka_mock_broker_set_down(cluster_, broker),
        "cannot take broker " + std::to_string(broker) + " down");
}

void KafkaMockCluster::set_broker_up(int32_t broker) {
  check(rd_kafka_mock_broker_set_up(cluster_, broker),
        "cannot bring broker " + std::to_string(broker) + " up");
  // It listens on a new socket now: librdkafka 2.0.2 closes a broker's listener when it goes
  // down and opens another when it comes back.
  disable_nagle_on_broker_listeners();
}

void KafkaMockCluster::set_broker_rtt(int32_t broker, std::chrono::milliseconds rtt) {
  check(rd_kafka_mock_broker_set_rtt(cluster_, broker, static_cast<int>(rtt.count())),
        "cannot set the round-trip time of broker " + std::to_string(broker));
}

void KafkaMockCluster::set_partition_leader(std::string_view topic, int32_t partition,
                                            int32_t broker) {
  const std::string name(topic);
  check(rd_kafka_mock_partition_set_leader(cluster_, name.c_str(), partition, broker),
        "cannot move the leader of " + name + " [" + std::to_string(partition) + "]");
}

void KafkaMockCluster::push_request_errors(int16_t api_key, size_t count,
                                           rd_kafka_resp_err_t error) {
  std::vector<rd_kafka_resp_err_t> errors(count, error);
  rd_kafka_mock_push_request_errors_array(cluster_, api_key, errors.size(), errors.data());
}

void KafkaMockCluster::clear_request_errors(int16_t api_key) {
  rd_kafka_mock_clear_request_errors(cluster_, api_key);
}

std::vector<uint16_t> KafkaMockCluster::broker_ports() const {
  // "127.0.0.1:PORT,127.0.0.1:PORT,..."
  std::vector<uint16_t> ports;
  std::string_view rest = bootstrap_servers_;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view server = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const auto colon = server.rfind(':');
    if (colon == std::string_view::npos) continue;
    uint16_t port = 0;
    const auto digits = server.substr(colon + 1);
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (error == std::errc() && end == digits.data() + digits.size() && port != 0)
      ports.push_back(port);
  }
  return ports;
}

int KafkaMockCluster::disable_nagle_on_broker_listeners() const noexcept {
  const auto ports = broker_ports();
  int set = 0;
  std::error_code error;
  std::filesystem::directory_iterator entry("/proc/self/fd", error);
  for (; !error && entry != std::filesystem::directory_iterator(); entry.increment(error)) {
    int fd = -1;
    const std::string name = entry->path().filename().string();
    const auto [end, parse_error] = std::from_chars(name.data(), name.data() + name.size(), fd);
    if (parse_error != std::errc() || end != name.data() + name.size() || fd < 0) continue;
    // Listeners only: the mock's thread owns its connections, and a descriptor number another
    // thread closed and reused since the listing is then a listener on a broker's port too.
    int listening = 0;
    socklen_t flag_length = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &flag_length) != 0 || !listening)
      continue;  // not a socket (ENOTSOCK), closed since the listing, or not listening
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) continue;
    uint16_t port = 0;
    if (address.ss_family == AF_INET)
      port = ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
    else if (address.ss_family == AF_INET6)
      port = ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
    else
      continue;
    if (std::find(ports.begin(), ports.end(), port) == ports.end()) continue;
    const int on = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0) ++set;
  }
  return set;
}

}  // namespace counsel::log
