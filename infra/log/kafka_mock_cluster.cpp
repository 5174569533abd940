#include "infra/log/kafka_mock_cluster.hpp"

#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <vector>

#include "infra/log/log.hpp"

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

}  // namespace counsel::log
