#include "tests/bench/seed/seed_options.hpp"

#include <unistd.h>

#include <boost/program_options.hpp>
#include <iostream>
#include <map>

#include "infra/random_ids.hpp"

namespace counsel::bench {
namespace po = boost::program_options;
namespace {

constexpr const char* kUsage =
    "counsel_bench_seed - load a benchmark data set into a counsel events log\n\n"
    "Usage: counsel_bench_seed [--db CONNINFO] [--log postgres|kafka] [--partitions N]\n"
    "         [--kafka-brokers B] [--counselors N] [--clients N] [--events N] [--seed S]\n"
    "         [--bookable-from YYYY-MM-DD] [--slots N] [--manifest PATH]\n\n"
    "Needs a fresh database (and, with --log kafka, empty topics). Applies the migrations\n"
    "itself, as `counsel migrate` does. Start `counsel serve` with the same --db, --log and\n"
    "--partitions afterwards.\n\n";

// The environment variables `counsel` reads for the same settings.
const std::map<std::string, std::string> kEnvironment = {
    {"COUNSEL_DB", "db"},
    {"COUNSEL_LOG", "log"},
    {"COUNSEL_PARTITIONS", "partitions"},
    {"COUNSEL_KAFKA_BROKERS", "kafka-brokers"},
    {"COUNSEL_KAFKA_CONFIG", "kafka-config"},
    {"COUNSEL_KAFKA_CONFIG_FILE", "kafka-config-file"},
    {"COUNSEL_PASSWORD_HASH_COST", "password-hash-cost"},
};

std::chrono::year_month_day default_bookable_from() {
  // Far enough ahead that a benchmark started the same day still finds every slot bookable
  // (minimum notice is at most four hours).
  return std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(now_utc()) +
                                     std::chrono::days{3}};
}

}  // namespace

SeedOptionsParse parse_seed_options(int argc, char** argv) {
  SeedOptionsParse result;
  SeedOptions o;
  std::string bookable_from;
  std::string db, log_engine;
  po::options_description d("Options (log and database flags as for `counsel`)");
  // clang-format off
  d.add_options()
    ("help,h", "show this help")
    ("db", po::value(&db), "COUNSEL_DB: libpq connection string (default as counsel)")
    ("database-url", po::value(&db), "the same as --db")
    ("log", po::value(&log_engine), "COUNSEL_LOG: log engine: postgres (default) | kafka")
    ("log-engine", po::value(&log_engine), "the same as --log")
    ("partitions", po::value(&o.log.partitions)->default_value(o.log.partitions),
     "COUNSEL_PARTITIONS: partitions of the topics (the server must use the same)")
    ("kafka-brokers", po::value(&o.log.kafka_brokers),
     "COUNSEL_KAFKA_BROKERS: bootstrap servers (with --log kafka)")
    ("kafka-config", po::value(&o.log.kafka_config),
     "COUNSEL_KAFKA_CONFIG: extra librdkafka settings 'key=value,key=value'")
    ("kafka-config-file", po::value(&o.log.kafka_config_file),
     "COUNSEL_KAFKA_CONFIG_FILE: file of librdkafka settings, one key=value per line")
    ("counselors", po::value(&o.counselors)->default_value(o.counselors),
     "verified counsellors with profiles and availability")
    ("clients", po::value(&o.clients)->default_value(o.clients), "registered clients")
    ("events", po::value(&o.events)->default_value(o.events),
     "total events in the log (registrations included)")
    ("seed", po::value(&o.seed)->default_value(o.seed), "random seed (same seed, same data)")
    ("bookable-from", po::value(&bookable_from),
     "YYYY-MM-DD: every slot from this local date on stays free (default: today + 3 days)")
    ("slots", po::value(&o.slots)->default_value(o.slots), "lines in the slots file")
    ("manifest", po::value(&o.manifest)->default_value(o.manifest),
     "where to write the manifest (the slots go to PATH.slots.tsv)")
    ("password-hash-cost", po::value(&o.password_hash_cost)->default_value(o.password_hash_cost),
     "COUNSEL_PASSWORD_HASH_COST: argon2id cost of the shared password hash: interactive | "
     "moderate | min")
    ("batch", po::value(&o.batch_records)->default_value(o.batch_records),
     "events per write")
    ("write", po::value(&o.write),
     "copy (postgres: COPY into the engine's table; the default there) | port (Log::append; "
     "the only way on kafka)");
  // clang-format on
  auto fail = [&](const std::string& message) {
    std::cerr << "counsel_bench_seed: " << message << "\n(see counsel_bench_seed --help)\n";
    result.exit_code = 2;
    return result;
  };
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, d), vm);
    po::store(po::parse_environment(d,
                                    [](const std::string& env) -> std::string {
                                      auto it = kEnvironment.find(env);
                                      return it == kEnvironment.end() ? "" : it->second;
                                    }),
              vm);
    if (vm.count("help")) {
      std::cout << kUsage << d;
      return result;
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  if (!db.empty()) o.log.db = db;
  if (!log_engine.empty()) o.log.log_engine = log_engine;
  if (o.log.log_engine != "postgres" && o.log.log_engine != "kafka")
    return fail(
        "--log must be postgres or kafka (a kafka-mock inside this process would vanish "
        "with it; run `counsel kafka-mock` and pass its address with --log kafka)");
  if (o.log.log_engine == "kafka" && o.log.kafka_brokers.empty())
    return fail("--log kafka needs --kafka-brokers");
  if (o.log.partitions < 1 || o.log.partitions > 1024)
    return fail("--partitions must be between 1 and 1024");
  if (o.counselors < 1 || o.clients < 1) return fail("--counselors and --clients must be positive");
  if (o.events < 1) return fail("--events must be positive");
  if (o.slots < 0) return fail("--slots must not be negative");
  if (o.batch_records < 1) return fail("--batch must be positive");
  if (o.write.empty()) o.write = o.log.log_engine == "postgres" ? "copy" : "port";
  if (o.write != "copy" && o.write != "port") return fail("--write must be copy or port");
  if (o.write == "copy" && o.log.log_engine != "postgres")
    return fail("--write copy needs --log postgres");
  if (o.password_hash_cost != "interactive" && o.password_hash_cost != "moderate" &&
      o.password_hash_cost != "min")
    return fail("--password-hash-cost must be interactive, moderate or min");
  if (bookable_from.empty()) {
    o.bookable_from = default_bookable_from();
  } else if (auto date = parse_date(bookable_from)) {
    o.bookable_from = *date;
  } else {
    return fail("--bookable-from must be a date YYYY-MM-DD");
  }
  o.log.member_name = "bench-seed:" + std::to_string(getpid());
  // Big batches on a slow cluster: an append may take longer than a request would.
  o.log.command_timeout_ms = 120'000;
  result.options = o;
  return result;
}

}  // namespace counsel::bench
