// The whole api (http + processor + projectors in one Runtime, --log kafka-mock) through Kafka
// faults injected with librdkafka's mock cluster: every broker down and back, partition leaders
// moving, retriable produce and fetch errors. While the log is unreachable a command answers a
// clear 503 problem within its time bound; afterwards the api recovers by itself, and no
// acknowledged command is lost or applied twice.
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "api/runtime.hpp"
#include "domain/events/envelope.hpp"
#include "domain/json.hpp"
#include "infra/config.hpp"
#include "infra/log/kafka_mock_cluster.hpp"
#include "infra/log/log.hpp"
#include "tests/integration/raw_http_client.hpp"
#include "tests/integration/test_database.hpp"
#include "tests/integration/test_log_engines.hpp"

using namespace counsel;
using namespace std::chrono_literals;
using counsel::testing::RawClient;
using counsel::testing::RawResponse;

namespace {

constexpr int kBrokers = 3;  // the mock cluster's brokers have ids 1..3
constexpr int kPartitions = 4;
// Kafka protocol API keys (rdkafka_mock.h takes them as plain numbers).
constexpr int16_t kProduceApi = 0;
constexpr int16_t kFetchApi = 1;
const std::vector<std::string> kTopics{"counsel.commands.v1", "counsel.events.v1",
                                       "counsel.results.v1"};
const std::string kPassword = "correct-horse-battery";

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "counsel-outage-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// One api process's worth of roles, in-process, on a fresh mock cluster.
class Api {
 public:
  explicit Api(std::chrono::milliseconds command_timeout) {
    config_.command = {"serve"};
    config_.db = db_.conninfo();
    config_.log_engine = "kafka-mock";
    config_.partitions = kPartitions;
    config_.kafka_bootstrap_file = dir_.file("kafka-bootstrap");
    config_.http_address = "127.0.0.1";
    config_.http_port = 0;
    config_.password_hash_cost = "min";
    config_.jwt_secret_file = dir_.file("jwt-secret");
    config_.command_timeout_ms = static_cast<int>(command_timeout.count());
    config_.io_threads = 1;
    config_.worker_threads = 8;
    config_.db_pool_size = 8;
    config_.member_name = "outage-test";
    config_.rate_limits = "off";  // its retries and registrations would exceed the auth budget
    runtime_ = std::make_unique<api::Runtime>(config_);
    runtime_->open();
    BOOST_REQUIRE_MESSAGE(runtime_->kafka_mock() != nullptr,
                          "--log kafka-mock starts a mock cluster in-process");
    runtime_->start(api::Roles{.api = true, .processor = true, .projector = true});
  }
  ~Api() { runtime_->stop(); }

  log::KafkaMockCluster& mock() { return *runtime_->kafka_mock(); }
  log::Log& log() { return runtime_->log(); }
  std::chrono::milliseconds command_timeout() const {
    return std::chrono::milliseconds(config_.command_timeout_ms);
  }

  RawResponse call(const std::string& method, const std::string& target,
                   const std::string& body = "", const std::string& token = "",
                   std::chrono::milliseconds timeout = 30s) {
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
    if (!body.empty()) {
      request +=
          "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n";
    }
    request += "Connection: close\r\n\r\n" + body;
    RawClient client(runtime_->http_port());
    return client.request(request, timeout);
  }

  RawResponse register_user(const std::string& email, std::chrono::milliseconds timeout = 30s) {
    return call("POST", "/api/v1/auth/register",
                R"({"email":")" + email + R"(","password":")" + kPassword +
                    R"(","role":"client","display_name":"Outage Tester"})",
                "", timeout);
  }

 private:
  counsel::testing::TestDatabase db_;
  TempDir dir_;
  Config config_;
  std::unique_ptr<api::Runtime> runtime_;
};

std::string unique_email(const std::string& label) {
  static int counter = 0;
  return label + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 100000) +
         "@example.org";
}

std::string string_field(const std::string& body, const char* name) {
  auto doc = json::parse(body);
  if (!doc) return "";
  auto value = json::get_string(*doc, name);
  return value ? std::string(*value) : "";
}

struct Acknowledged {
  std::string email;
  std::string id;
};

// Registers fresh users until one is accepted (the processor and projectors have joined their
// groups, or the api has recovered); returns it.
Acknowledged register_once_ready(Api& api, const std::string& label,
                                 std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  RawResponse last;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto email = unique_email(label);
    last = api.register_user(email);
    if (last.status == 201) return {email, string_field(last.body, "id")};
    std::this_thread::sleep_for(200ms);
  }
  BOOST_FAIL("no registration succeeded within the limit; last answer " << last.status << " "
                                                                        << last.body);
  return {};
}

// Every acknowledged user can log in and read themself; the events log holds exactly one
// account.registered event for each of them.
void expect_acknowledged_intact(Api& api, const std::vector<Acknowledged>& users) {
  for (const auto& user : users) {
    BOOST_TEST_CONTEXT("user " << user.email) {
      RawResponse login;
      const auto deadline = std::chrono::steady_clock::now() + 15s;
      do {
        login = api.call("POST", "/api/v1/auth/login",
                         R"({"email":")" + user.email + R"(","password":")" + kPassword + "\"}");
        if (login.status == 200) break;
        std::this_thread::sleep_for(200ms);
      } while (std::chrono::steady_clock::now() < deadline);
      BOOST_REQUIRE_EQUAL(login.status, 200);
      const auto token = string_field(login.body, "access_token");
      const auto me = api.call("GET", "/api/v1/me", "", token);
      BOOST_TEST(me.status == 200);
      BOOST_TEST(string_field(me.body, "id") == user.id);
    }
  }
  std::map<std::string, int> registered;  // user id -> account.registered events
  for (const auto& record : counsel::testing::read_all(api.log(), log::Topic::events)) {
    auto event = decode_event(record.value);
    BOOST_REQUIRE(event);
    if (event->type != "account.registered") continue;
    auto data = json::parse(event->data_json);
    BOOST_REQUIRE(data);
    ++registered[std::string(json::get_string(*data, "user_id").value_or(""))];
  }
  for (const auto& [id, count] : registered) {
    BOOST_TEST_CONTEXT("user id " << id) {
      BOOST_TEST(count == 1);
    }
  }
  for (const auto& user : users) BOOST_TEST(registered.count(user.id) == 1u);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kafka_outage_test)

BOOST_AUTO_TEST_CASE(every_broker_down_gives_a_503_problem_and_the_api_recovers_by_itself) {
  Api api(3000ms);
  std::vector<Acknowledged> acknowledged;
  acknowledged.push_back(register_once_ready(api, "before", 40s));
  for (int i = 0; i < 3; ++i) {
    const auto email = unique_email("before");
    auto r = api.register_user(email);
    BOOST_REQUIRE_EQUAL(r.status, 201);
    acknowledged.push_back({email, string_field(r.body, "id")});
  }

  for (int broker = 1; broker <= kBrokers; ++broker) api.mock().set_broker_down(broker);

  const auto started = std::chrono::steady_clock::now();
  const auto refused = api.register_user(unique_email("during"));
  const auto answered_after = std::chrono::steady_clock::now() - started;
  BOOST_TEST_MESSAGE(
      "with every broker down, a registration answered "
      << refused.status << " after "
      << std::chrono::duration_cast<std::chrono::milliseconds>(answered_after).count()
      << " ms: " << refused.body);
  BOOST_TEST(refused.status == 503);
  BOOST_TEST(refused.header("content-type").starts_with("application/problem+json"));
  const auto code = refused.problem_code();
  BOOST_TEST((code == "log_unavailable" || code == "command_timeout"), "code is " << code);
  BOOST_TEST(!refused.header("retry-after").empty());
  // Bounded by the command timeout (plus the registration's own work), not by librdkafka's
  // retries.
  BOOST_TEST((answered_after < api.command_timeout() + 2s));

  // The operator's view says the same, quickly.
  const auto status_started = std::chrono::steady_clock::now();
  const auto status = api.call("GET", "/status", "", "", 15s);
  BOOST_TEST(status.status == 503, status.body);
  BOOST_TEST((std::chrono::steady_clock::now() - status_started < 10s));

  for (int broker = 1; broker <= kBrokers; ++broker) api.mock().set_broker_up(broker);

  const auto recovering = std::chrono::steady_clock::now();
  acknowledged.push_back(register_once_ready(api, "after", 60s));
  BOOST_TEST_MESSAGE("registrations succeed again "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - recovering)
                            .count()
                     << " ms after the brokers came back");
  for (int i = 0; i < 3; ++i) {
    const auto email = unique_email("after");
    auto r = api.register_user(email);
    BOOST_REQUIRE_EQUAL(r.status, 201);
    acknowledged.push_back({email, string_field(r.body, "id")});
  }
  BOOST_TEST(api.call("GET", "/status").status == 200);
  expect_acknowledged_intact(api, acknowledged);
}

BOOST_AUTO_TEST_CASE(leader_changes_and_retriable_errors_lose_and_duplicate_nothing) {
  Api api(10000ms);
  std::vector<Acknowledged> acknowledged;
  acknowledged.push_back(register_once_ready(api, "warm-up", 40s));
  for (int round = 0; round < 6; ++round) {
    // Every partition of every topic moves to the next broker ...
    const int leader = round % kBrokers + 1;
    for (const auto& topic : kTopics) {
      for (int p = 0; p < kPartitions; ++p) api.mock().set_partition_leader(topic, p, leader);
    }
    // ... and the next requests fail with errors a client must retry.
    api.mock().push_request_errors(kProduceApi, 2,
                                   round % 2 == 0 ? RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS
                                                  : RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
    api.mock().push_request_errors(kFetchApi, 2, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
    for (int i = 0; i < 2; ++i) {
      BOOST_TEST_CONTEXT("round " << round << ", registration " << i) {
        const auto email = unique_email("faults");
        auto r = api.register_user(email);
        BOOST_TEST(r.status == 201, r.body);
        if (r.status == 201) acknowledged.push_back({email, string_field(r.body, "id")});
      }
    }
  }
  BOOST_TEST(acknowledged.size() == 13u);
  expect_acknowledged_intact(api, acknowledged);
}

BOOST_AUTO_TEST_SUITE_END()
