#include "infra/config.hpp"

#include <unistd.h>

#include <boost/program_options.hpp>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <iostream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace counsel {
namespace po = boost::program_options;
namespace {

po::options_description make_options(Config& c) {
  po::options_description d(
      "Options (each also read from the COUNSEL_* environment variable shown)");
  // clang-format off
  d.add_options()
    ("help,h", "show this help")
    ("email", po::value(&c.email),
     "users create-admin: the new admin's email (the password is read from stdin)")
    ("display-name", po::value(&c.display_name),
     "users create-admin: the new admin's display name (default: the email's local part)")
    ("from", po::value(&c.audit_from),
     "audit replay: start at this RFC 3339 time or P:O position (inclusive; a position reads "
     "only partition P)")
    ("to", po::value(&c.audit_to),
     "audit replay: stop before this RFC 3339 time or P:O position (exclusive)")
    ("actor", po::value(&c.audit_actor), "audit replay: only events this user (UUID) caused")
    ("subject", po::value(&c.audit_subject),
     "audit replay: only events concerning this user (UUID): named in an *_id member of the "
     "data, or the user's account-/counselor- stream")
    ("stream", po::value(&c.audit_stream), "audit replay: only this stream, e.g. session-<id>")
    ("type", po::value(&c.audit_types)->composing(),
     "audit replay: only these event types (repeatable or a comma list; 'session.*' is a "
     "prefix)")
    ("format", po::value(&c.audit_format)->default_value(c.audit_format),
     "audit replay: jsonl | csv")
    ("output", po::value(&c.audit_output),
     "audit replay: write to this file (atomically replaced) instead of stdout")
    ("from-checkpoint", po::value(&c.audit_checkpoints)->composing(),
     "audit verify: P:O:HASH, trust the event at partition P offset O to have HASH and start "
     "that partition's check there (repeatable; verify prints each partition's head)")
    ("db", po::value(&c.db)->default_value(c.db),
     "COUNSEL_DB: libpq connection string of the PostgreSQL database")
    ("http-address", po::value(&c.http_address)->default_value(c.http_address),
     "COUNSEL_HTTP_ADDRESS: address the HTTP API binds to")
    ("http-port", po::value(&c.http_port)->default_value(c.http_port),
     "COUNSEL_HTTP_PORT: HTTP port (0 = ephemeral; the chosen port is printed)")
    ("log", po::value(&c.log_engine)->default_value(c.log_engine),
     "COUNSEL_LOG: log engine: postgres | kafka | kafka-mock")
    ("partitions", po::value(&c.partitions)->default_value(c.partitions),
     "COUNSEL_PARTITIONS: partitions of the commands/events/results topics")
    ("kafka-brokers", po::value(&c.kafka_brokers),
     "COUNSEL_KAFKA_BROKERS: Kafka bootstrap servers (with --log kafka)")
    ("kafka-config", po::value(&c.kafka_config),
     "COUNSEL_KAFKA_CONFIG: extra librdkafka settings 'key=value,key=value' (e.g. "
     "security.protocol=SASL_SSL,sasl.mechanism=PLAIN)")
    ("kafka-config-file", po::value(&c.kafka_config_file),
     "COUNSEL_KAFKA_CONFIG_FILE: file of librdkafka settings, one key=value per line (keep "
     "secrets such as sasl.password here)")
    ("kafka-bootstrap-file", po::value(&c.kafka_bootstrap_file)->default_value(c.kafka_bootstrap_file),
     "COUNSEL_KAFKA_BOOTSTRAP_FILE: where --log kafka-mock writes the mock cluster's address")
    ("jwt-secret-file", po::value(&c.jwt_secret_file)->default_value(c.jwt_secret_file),
     "COUNSEL_JWT_SECRET_FILE: HS256 secret for access tokens (created, mode 0600, if missing)")
    ("access-token-ttl", po::value(&c.access_token_ttl_seconds)->default_value(c.access_token_ttl_seconds),
     "COUNSEL_ACCESS_TOKEN_TTL: access token lifetime in seconds")
    ("refresh-token-ttl", po::value(&c.refresh_token_ttl_seconds)->default_value(c.refresh_token_ttl_seconds),
     "COUNSEL_REFRESH_TOKEN_TTL: refresh token lifetime in seconds (each rotation issues a new one)")
    ("password-hash-cost", po::value(&c.password_hash_cost)->default_value(c.password_hash_cost),
     "COUNSEL_PASSWORD_HASH_COST: argon2id cost: interactive | moderate | min (tests only)")
    ("io-threads", po::value(&c.io_threads)->default_value(c.io_threads),
     "COUNSEL_IO_THREADS: HTTP I/O threads")
    ("worker-threads", po::value(&c.worker_threads)->default_value(c.worker_threads),
     "COUNSEL_WORKER_THREADS: request worker threads (database work runs here)")
    ("ws-max-queued-frames", po::value(&c.ws_max_queued_frames)->default_value(c.ws_max_queued_frames),
     "COUNSEL_WS_MAX_QUEUED_FRAMES: frames a WebSocket may have waiting before it is closed as a "
     "slow consumer (1008)")
    ("db-pool-size", po::value(&c.db_pool_size)->default_value(c.db_pool_size),
     "COUNSEL_DB_POOL_SIZE: PostgreSQL connections for queries")
    ("command-timeout-ms", po::value(&c.command_timeout_ms)->default_value(c.command_timeout_ms),
     "COUNSEL_COMMAND_TIMEOUT_MS: how long the api waits for a command's outcome")
    ("consistency-wait-ms", po::value(&c.consistency_wait_ms)->default_value(c.consistency_wait_ms),
     "COUNSEL_CONSISTENCY_WAIT_MS: how long a read waits for its Consistency-Token")
    ("search-cache-entries", po::value(&c.search_cache_entries)->default_value(c.search_cache_entries),
     "COUNSEL_SEARCH_CACHE_ENTRIES: counsellor search pages an api process keeps until the "
     "counselors read model changes (0: none)")
    ("demo-data", po::bool_switch(&c.demo_data),
     "COUNSEL_DEMO_DATA: serve/api load the demo data after start unless already there")
    ("member-name", po::value(&c.member_name),
     "COUNSEL_MEMBER_NAME: name of this process in partition groups (default host:pid)")
    ("rate-limit-auth", po::value(&c.rate_limit_auth)->default_value(c.rate_limit_auth),
     "COUNSEL_RATE_LIMIT_AUTH: requests per client to /api/v1/auth/* (N/s, N/min or N/hour); "
     "a client is the user of a valid bearer token, else the IP address")
    ("rate-limit-chat", po::value(&c.rate_limit_chat)->default_value(c.rate_limit_chat),
     "COUNSEL_RATE_LIMIT_CHAT: requests per client to /api/v1/chatrooms* and /ws/chat*")
    ("rate-limit-general", po::value(&c.rate_limit_general)->default_value(c.rate_limit_general),
     "COUNSEL_RATE_LIMIT_GENERAL: requests per client to every other route; /health, /status "
     "and /metrics are never limited")
    ("rate-limits", po::value(&c.rate_limits)->default_value(c.rate_limits),
     "COUNSEL_RATE_LIMITS: on | off (off for load tests); over a limit the api answers 429 "
     "rate_limited with Retry-After")
    ("mail-dir", po::value(&c.mail_dir),
     "COUNSEL_MAIL_DIR: directory where emails are written as .eml files (empty: no email is "
     "sent; they stay queued)")
    ("fault", po::value(&c.fault),
     "COUNSEL_FAULT: test-only fault injection (processor_crash_after_append, projector_crash_mid_batch)");
  // clang-format on
  return d;
}

std::string env_name_for(const std::string& option) {
  std::string s = "COUNSEL_";
  for (char ch : option) s.push_back(ch == '-' ? '_' : static_cast<char>(std::toupper(ch)));
  return s;
}

const char* kUsage =
    "counsel - event-sourced backend for online counselling\n\n"
    "Usage: counsel [SUBCOMMAND] [OPTIONS]\n\n"
    "Subcommands:\n"
    "  serve                      api + command processor + projectors in one process (default)\n"
    "  api                        the HTTP API only\n"
    "  processor                  the command processor only (partitions shared with other "
    "processors)\n"
    "  projector                  the projectors only (partitions shared with other projectors)\n"
    "  migrate                    apply database migrations and exit\n"
    "  seed-demo                  load demo counsellors and clients unless already loaded\n"
    "  projections rebuild [NAME] rebuild a read model (users | counselors | sessions | patients | "
    "chat | notifications | audit; all without NAME) from offset 0\n"
    "  log check                  verify every partition's hash chain and every event's JSON "
    "schema\n"
    "  audit replay [--from --to --actor --subject --stream --type --format --output]\n"
    "                             write the events (the audit stream) that pass the filters as "
    "JSON Lines or CSV\n"
    "  audit verify [--from-checkpoint P:O:HASH]\n"
    "                             check every partition's hash chain; exit 1 and the first "
    "broken link if tampered\n"
    "  routes                     print who may call each route (the access policy) as JSON\n"
    "  users create-admin --email E   create an admin (password from stdin) through the running "
    "system\n\n";

bool is_subcommand_argument(const std::string& option) {
  static const std::set<std::string> kFlagsOnly{"email",  "display-name", "from",           "to",
                                                "actor",  "subject",      "stream",         "type",
                                                "format", "output",       "from-checkpoint"};
  return kFlagsOnly.contains(option);
}

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

RateLimit parse_rate_limit(std::string_view text) {
  const auto fail = [&]() -> RateLimit {
    throw std::invalid_argument("'" + std::string(text) +
                                "' is not a rate limit; expected N/s, N/min, N/hour or N/day "
                                "with N between 1 and 1000000, e.g. 10/min");
  };
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return fail();
  const std::string_view count = trim_spaces(text.substr(0, slash));
  std::string unit(trim_spaces(text.substr(slash + 1)));
  for (char& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  int64_t requests = 0;
  const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), requests);
  if (count.empty() || ec != std::errc() || end != count.data() + count.size()) return fail();
  // The cap keeps the per-request interval (period / N) a meaningful number of nanoseconds.
  if (requests < 1 || requests > 1'000'000) return fail();
  std::chrono::seconds period{0};
  if (unit == "s" || unit == "sec" || unit == "second") {
    period = std::chrono::seconds(1);
  } else if (unit == "m" || unit == "min" || unit == "minute") {
    period = std::chrono::minutes(1);
  } else if (unit == "h" || unit == "hour") {
    period = std::chrono::hours(1);
  } else if (unit == "d" || unit == "day") {
    period = std::chrono::hours(24);
  } else {
    return fail();
  }
  return RateLimit{requests, period};
}

std::string config_help() {
  Config c;
  std::ostringstream out;
  out << kUsage << make_options(c)
      << "\nEnvironment only:\n"
         "  COUNSEL_MIGRATIONS_DIR     directory of the numbered SQL migrations (default: the "
         "source tree's)\n"
         "  COUNSEL_SCHEMAS_DIR        directory of the event JSON Schemas (default: the source "
         "tree's)\n";
  return out.str();
}

ConfigParse parse_config(int argc, char** argv) {
  ConfigParse result;
  Config c;
  auto options = make_options(c);
  po::options_description hidden;
  hidden.add_options()("command", po::value<std::vector<std::string>>(&c.command));
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("command", -1);
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    // Environment after flags: store() keeps the first value it sees, so flags win.
    po::store(po::parse_environment(options,
                                    [&](const std::string& env) -> std::string {
                                      for (auto& opt : options.options()) {
                                        // A subcommand's arguments are flags only: a stray
                                        // COUNSEL_TYPE must not filter an audit replay.
                                        if (is_subcommand_argument(opt->long_name())) continue;
                                        if (env_name_for(opt->long_name()) == env)
                                          return opt->long_name();
                                      }
                                      return "";
                                    }),
              vm);
    if (vm.count("help")) {
      std::cout << config_help();
      result.exit_code = 0;
      return result;
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "counsel: " << e.what() << "\n(see counsel --help)\n";
    result.exit_code = 2;
    return result;
  }
  if (c.command.empty()) c.command = {"serve"};
  if (c.partitions < 1 || c.partitions > 1024) {
    std::cerr << "counsel: --partitions must be between 1 and 1024\n";
    result.exit_code = 2;
    return result;
  }
  if (c.access_token_ttl_seconds < 1 || c.refresh_token_ttl_seconds < 1) {
    std::cerr << "counsel: --access-token-ttl and --refresh-token-ttl must be positive\n";
    result.exit_code = 2;
    return result;
  }
  if (c.http_port < 0 || c.http_port > 65535) {
    std::cerr << "counsel: --http-port must be between 0 and 65535\n";
    result.exit_code = 2;
    return result;
  }
  if (c.log_engine != "postgres" && c.log_engine != "kafka" && c.log_engine != "kafka-mock") {
    std::cerr << "counsel: --log must be postgres, kafka or kafka-mock\n";
    result.exit_code = 2;
    return result;
  }
  if (c.log_engine == "kafka" && c.kafka_brokers.empty()) {
    std::cerr << "counsel: --log kafka needs --kafka-brokers (COUNSEL_KAFKA_BROKERS)\n";
    result.exit_code = 2;
    return result;
  }
  if (c.rate_limits != "on" && c.rate_limits != "off") {
    std::cerr << "counsel: --rate-limits must be on or off\n";
    result.exit_code = 2;
    return result;
  }
  for (const auto& [flag, value] : {std::pair{"--rate-limit-auth", &c.rate_limit_auth},
                                    std::pair{"--rate-limit-chat", &c.rate_limit_chat},
                                    std::pair{"--rate-limit-general", &c.rate_limit_general}}) {
    try {
      parse_rate_limit(*value);
    } catch (const std::invalid_argument& e) {
      std::cerr << "counsel: " << flag << ": " << e.what() << "\n";
      result.exit_code = 2;
      return result;
    }
  }
  if (c.member_name.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    c.member_name = std::string(host) + ":" + std::to_string(getpid());
  }
  result.config = c;
  return result;
}

}  // namespace counsel
