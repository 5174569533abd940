#pragma once
// The loader's command line: the log and database flags of `counsel` (so one set of settings
// serves both) plus the size and shape of the data set.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "infra/config.hpp"

namespace counsel::bench {

struct SeedOptions {
  // db, log_engine, partitions, kafka_brokers, kafka_config, kafka_config_file: as `counsel`.
  Config log;
  int counselors = 10'000;
  int clients = 100'000;
  int64_t events = 1'000'000;
  uint64_t seed = 1;
  // The first local date (Africa/Johannesburg) whose slots stay free for the benchmarks.
  std::chrono::year_month_day bookable_from{};
  int64_t slots = 400'000;
  std::string manifest = "bench-manifest.json";
  // The argon2id cost of the one password hash every account shares; the server verifies any
  // cost, so this only decides how long each benchmark login takes.
  std::string password_hash_cost = "interactive";
  size_t batch_records = 5000;  // events per write
  // How events reach the log: "copy" (postgres engine only: COPY into its table, the default
  // there) or "port" (Log::append, the only way on Kafka).
  std::string write = "";
};

struct SeedOptionsParse {
  std::optional<SeedOptions> options;  // nullopt: help printed (exit 0) or a usage error (2)
  int exit_code = 0;
};

SeedOptionsParse parse_seed_options(int argc, char** argv);

}  // namespace counsel::bench
