#pragma once
// Process configuration: flags first, then COUNSEL_* environment variables, then defaults.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace counsel {

struct Config {
  std::vector<std::string>
      command;  // subcommand words, e.g. {"serve"} or {"projections","rebuild","users"}
  std::string db = "host=/var/run/postgresql dbname=counsel";
  std::string http_address = "127.0.0.1";
  int http_port = 8080;
  std::string log_engine = "postgres";  // postgres | kafka | kafka-mock
  int partitions = 16;
  std::string kafka_brokers;      // bootstrap servers for --log kafka
  std::string kafka_config;       // extra librdkafka settings: "k=v,k=v"
  std::string kafka_config_file;  // extra librdkafka settings, one k=v per line (secrets)
  std::string kafka_bootstrap_file = "var/kafka-bootstrap";  // written by --log kafka-mock
  std::string jwt_secret_file = "var/jwt-secret";
  int access_token_ttl_seconds = 900;
  std::string password_hash_cost = "interactive";  // interactive | moderate | min
  int io_threads = 2;
  int worker_threads = 32;
  int db_pool_size = 24;
  int command_timeout_ms = 5000;
  int consistency_wait_ms = 3000;
  std::string member_name;  // group member name; defaults to host:pid
  bool demo_data = false;
  std::string fault;  // test hook (COUNSEL_FAULT)
};

struct ConfigParse {
  std::optional<Config> config;  // nullopt: help printed or error
  int exit_code = 0;
};

// Prints --help (and returns exit_code 0) or a clear error (exit_code 2).
ConfigParse parse_config(int argc, char** argv);
std::string config_help();

}  // namespace counsel
