#pragma once
// Process configuration: flags first, then COUNSEL_* environment variables, then defaults.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace counsel {

struct Config {
  std::vector<std::string>
      command;  // subcommand words, e.g. {"serve"} or {"projections","rebuild","users"}
  std::string db = "host=/var/run/postgresql dbname=counsel";
  // `users create-admin` only.
  std::string email;
  std::string display_name;
  // `audit replay` / `audit verify` only.
  std::string audit_from;  // RFC 3339 time or P:O position
  std::string audit_to;
  std::string audit_actor;
  std::string audit_subject;
  std::string audit_stream;
  std::vector<std::string> audit_types;        // each may be a comma list
  std::string audit_format = "jsonl";          // jsonl | csv
  std::string audit_output;                    // empty: stdout
  std::vector<std::string> audit_checkpoints;  // P:O:HASH
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
  int refresh_token_ttl_seconds = 30 * 24 * 3600;  // one refresh-token family's token lifetime
  std::string password_hash_cost = "interactive";  // interactive | moderate | min
  int io_threads = 2;
  // Request handlers block for a booking's whole trip through the log (append, processor,
  // projectors: tens of milliseconds under load) while using almost no CPU, so the pool bounds
  // how many commands are in flight: 32 held 64 booking clients to 540/s on two cores with a
  // fifth of the CPU idle, 128 gave 856/s (tests/bench, 2026-12-07). A thread costs the pages
  // of stack it touches.
  int worker_threads = 128;
  int ws_max_queued_frames = 256;
  int db_pool_size = 24;
  int command_timeout_ms = 5000;
  int consistency_wait_ms = 3000;
  int search_cache_entries = 4096;  // counsellor search results kept per api process; 0: none
  std::string member_name;          // group member name; defaults to host:pid
  bool demo_data = false;
  std::string fault;  // test hook (COUNSEL_FAULT)
  // Request rate limits per client ("N/unit", see parse_rate_limit); parse_config has checked
  // them, so the runtime may parse them again without handling errors.
  std::string rate_limit_auth = "10/min";
  std::string rate_limit_chat = "500/min";
  std::string rate_limit_general = "100/min";
  std::string rate_limits = "on";  // on | off (load tests turn them off)
  // Where the email channel writes each message as an .eml file; empty: no email channel
  // (emails stay queued in notify.outbox).
  std::string mail_dir;
};

// "N requests per period", e.g. 10/min.
struct RateLimit {
  int64_t requests = 0;
  std::chrono::seconds period{0};
  friend bool operator==(const RateLimit&, const RateLimit&) = default;
};

// Parses "N/unit" with N in 1..1000000 and unit s|sec|second, min|minute, h|hour or d|day
// (case-insensitive; spaces around the parts allowed), e.g. "10/min", "5/s", "1000/hour".
// Throws std::invalid_argument with a message naming the expected form.
RateLimit parse_rate_limit(std::string_view text);

struct ConfigParse {
  std::optional<Config> config;  // nullopt: help printed or error
  int exit_code = 0;
};

// Prints --help (and returns exit_code 0) or a clear error (exit_code 2).
ConfigParse parse_config(int argc, char** argv);
std::string config_help();

}  // namespace counsel
