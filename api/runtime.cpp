#include "api/runtime.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

#include "api/access_policy.hpp"
#include "api/access_recorder.hpp"
#include "api/fresh_sessions.hpp"
#include "api/handler_support.hpp"
#include "api/http_probe.hpp"
#include "api/http_server.hpp"
#include "api/known_counselors.hpp"
#include "api/notification_outbox.hpp"
#include "api/notification_relay.hpp"
#include "api/rate_limiter.hpp"
#include "api/read_model_cache.hpp"
#include "api/realtime_hub.hpp"
#include "api/websocket_routes.hpp"
#include "commands/command_processor.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "infra/crypto/password_hasher.hpp"
#include "infra/log/kafka_log.hpp"
#include "infra/log/kafka_mock_cluster.hpp"
#include "infra/log/postgres_log.hpp"
#include "infra/logging.hpp"
#include "infra/pg/connection_pool.hpp"
#include "infra/pg/migrations.hpp"
#include "infra/random_ids.hpp"
#include "projections/account_gate.hpp"
#include "projections/consistency.hpp"
#include "projections/keyring_decryptor.hpp"
#include "projections/projection.hpp"
#include "projections/projector_runner.hpp"

namespace counsel::api {
namespace {

crypto::PasswordHashCost cost_from(const std::string& name) {
  if (name == "min") return crypto::PasswordHashCost::minimum();
  if (name == "moderate")
    return crypto::PasswordHashCost{crypto_pwhash_OPSLIMIT_MODERATE,
                                    crypto_pwhash_MEMLIMIT_MODERATE};
  if (name == "interactive") return crypto::PasswordHashCost::interactive();
  throw std::runtime_error("--password-hash-cost must be interactive, moderate or min");
}

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

void add_setting(std::vector<std::pair<std::string, std::string>>& out, const std::string& item,
                 const std::string& origin) {
  auto line = trim(item);
  if (line.empty() || line[0] == '#') return;
  auto eq = line.find('=');
  if (eq == std::string::npos || eq == 0)
    throw std::runtime_error("bad librdkafka setting in " + origin + " (expected key=value)");
  out.emplace_back(trim(line.substr(0, eq)), trim(line.substr(eq + 1)));
}

}  // namespace

std::vector<std::pair<std::string, std::string>> kafka_settings(const Config& config) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!config.kafka_config_file.empty()) {
    std::ifstream in(config.kafka_config_file);
    if (!in) throw std::runtime_error("cannot read " + config.kafka_config_file);
    std::string line;
    while (std::getline(in, line)) add_setting(out, line, config.kafka_config_file);
  }
  std::stringstream items(config.kafka_config);
  std::string item;
  while (std::getline(items, item, ',')) add_setting(out, item, "--kafka-config");
  return out;
}

std::unique_ptr<log::KafkaMockCluster> start_kafka_mock(const Config& config) {
  auto mock = std::make_unique<log::KafkaMockCluster>(3);
  mock->create_topics(config.partitions);
  std::string bootstrap = mock->bootstrap_servers();
  if (!config.kafka_bootstrap_file.empty()) {
    std::ofstream out(config.kafka_bootstrap_file);
    if (out) out << bootstrap << "\n";
  }
  std::cout << "kafka mock cluster: " << bootstrap << " (volatile: gone when this process stops)"
            << std::endl;
  return mock;
}

std::unique_ptr<log::Log> open_log(const Config& config,
                                   std::unique_ptr<log::KafkaMockCluster>* mock) {
  if (config.log_engine == "postgres")
    return log::make_postgres_log(config.db, config.partitions, config.member_name);
  log::KafkaLogOptions options;
  options.partitions = config.partitions;
  options.member = config.member_name;
  options.extra_config = kafka_settings(config);
  // An unreachable cluster must answer a request within the command timeout (503), not later.
  options.delivery_timeout = std::chrono::milliseconds(config.command_timeout_ms);
  if (config.fault == "processor_crash_before_commit") {
    options.before_transaction_commit = [] {
      logging::error("processor", "fault injection: crashing before the transaction commits");
      std::_Exit(88);
    };
  }
  if (config.log_engine == "kafka-mock") {
    *mock = start_kafka_mock(config);
    options.brokers = (*mock)->bootstrap_servers();
    options.mock = true;
  } else {
    options.brokers = config.kafka_brokers;
  }
  return log::make_kafka_log(options);
}

std::string load_or_create_secret(const std::string& path) {
  {
    std::ifstream in(path);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      std::string s = ss.str();
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
      if (s.size() < 32)
        throw std::runtime_error("the JWT secret in " + path + " is shorter than 32 characters");
      return s;
    }
  }
  std::string secret = random_hex(32);
  mode_t old = umask(077);
  std::ofstream out(path);
  umask(old);
  if (!out) throw std::runtime_error("cannot create the JWT secret file " + path);
  out << secret << "\n";
  chmod(path.c_str(), 0600);
  logging::info("runtime", "created a new JWT secret in " + path);
  return secret;
}

Runtime::Runtime(Config config) : config_(std::move(config)) {}

Runtime::~Runtime() {
  stop();
}

void Runtime::open() {
  pg::apply_migrations(config_.db);
  log_ = open_log(config_, &kafka_mock_);
  pool_ = std::make_unique<pg::PgPool>(config_.db, static_cast<size_t>(config_.db_pool_size));
  keyring_ = std::make_unique<crypto::SubjectKeyring>(*pool_);
  erasures_ = std::make_unique<crypto::SubjectErasureFollower>(config_.db, *keyring_);
  erasures_->start();
  {
    // The read tables exist before any role queries them, even on a fresh database.
    auto lease = pool_->acquire(std::chrono::seconds(10));
    projections::ensure_read_models(lease.connection());
  }
  decryptor_ = std::make_unique<projections::KeyringFieldDecryptor>(*keyring_);
}

void Runtime::start(Roles roles, bool http) {
  // Names this process's projector announcements, when its watcher hears of its batches
  // directly (reload_soon) and can skip their NOTIFYs.
  std::string own_origin;
  if (roles.api && roles.projector) own_origin = random_hex(8);
  if (roles.api) {
    watcher_ = std::make_unique<projections::ConsistencyWatcher>(config_.db, own_origin);
    watcher_->start();
  }
  if (roles.projector) {
    projector_ = std::make_unique<projections::ProjectorRunner>(*pool_, *log_, *decryptor_);
    // This process's requests wait for this projector's batches: the watcher reloads after
    // each commit instead of waiting for its NOTIFY to come back from PostgreSQL.
    if (watcher_) {
      projector_->on_committed = [watcher = watcher_.get()] { watcher->reload_soon(); };
      projector_->announcement_origin = own_origin;
      // And its bookings' answers are the rows this projector inserted (FreshSessions).
      fresh_sessions_ = std::make_unique<FreshSessions>();
      projector_->on_rows_returned =
          [fresh = fresh_sessions_.get()](
              const std::map<std::string, std::vector<pqxx::result>>& returned) {
            if (auto it = returned.find(projections::kInsertedSessionsTag); it != returned.end())
              for (const auto& rows : it->second) fresh->add(rows);
          };
    }
    projector_->start();
  }
  if (roles.processor) {
    commands::ProcessorOptions options;
    options.fault = config_.fault;
    processor_ = std::make_unique<commands::CommandProcessor>(*log_, options);
  }
  if (roles.api) bus_ = std::make_unique<CommandBus>(*log_);
  if (processor_) {
    // A process that both submits and decides answers its own submitters from its commits:
    // before, each result went to the log and came back through the results reader (a read
    // and two wake-ups per poll, on every booking's path).
    if (bus_)
      processor_->on_results_committed =
          [bus = bus_.get()](const std::vector<commands::CommittedResult>& results) {
            bus->deliver_committed(results);
          };
    processor_->start();
  }
  if (roles.api) {
    hasher_ = std::make_unique<crypto::PasswordHasher>(cost_from(config_.password_hash_cost));
    bus_->start();
    probe_ = std::make_unique<HttpProbe>();
    gate_ = std::make_unique<projections::AccountGate>(config_.db);
    gate_->start();
    access_probe_ = std::make_unique<AccessProbe>();
    access_ = std::make_unique<AccessRecorder>(*log_, *access_probe_);
    access_->start();
    app_.config = config_;
    app_.pool = pool_.get();
    app_.log = log_.get();
    app_.bus = bus_.get();
    app_.keyring = keyring_.get();
    app_.hasher = hasher_.get();
    app_.probe = probe_.get();
    app_.watcher = watcher_.get();
    app_.gate = gate_.get();
    app_.access = access_.get();
    app_.fresh_sessions = fresh_sessions_.get();
    if (config_.search_cache_entries > 0) {
      search_cache_ = std::make_unique<ReadModelCache>(ReadModelCache::Limits{
          static_cast<size_t>(config_.search_cache_entries), size_t{32} << 20});
      app_.counselor_search_cache = search_cache_.get();
      // About 50 bytes a counsellor: 100,000 of them in 5 MB.
      known_counselors_ = std::make_unique<KnownCounselors>(size_t{100000});
      app_.known_counselors = known_counselors_.get();
    }
    app_.jwt_secret = load_or_create_secret(config_.jwt_secret_file);
    register_ops_routes(router_, app_);
    register_auth_routes(router_, app_);
    register_password_reset_routes(router_, app_);
    register_two_factor_routes(router_, app_);
    register_admin_routes(router_, app_);
    register_audit_routes(router_, app_);
    register_counselor_routes(router_, app_);
    register_review_routes(router_, app_);
    register_session_routes(router_, app_);
    register_patient_routes(router_, app_);
    register_profile_routes(router_, app_);
    register_chat_routes(router_, app_);
    register_notification_routes(router_, app_);
    register_privacy_routes(router_, app_);
    // Who may call what is declared once, in api/access_policy.cpp: the role part is enforced
    // here for every route, before its handler (which still checks ownership).
    install_access_guard(router_, [this](const HttpRequest& request) -> Expected<Role, ApiError> {
      auto who = authenticate(app_, request);
      if (!who) return unexpected(who.error());
      return who->role;
    });
    if (http) {
      // Serving processes deliver the notification outbox; in-process tools do not.
      outbox_ = notify::make_dispatcher(config_, *keyring_);
      outbox_->start();
      // Pushes new notifications to this process's connections and records their in-app
      // delivery (no pusher until the WebSocket hub sets one).
      relay_ = std::make_unique<NotificationRelay>(config_.db, *keyring_);
      relay_->start();
      HttpServerOptions options;
      options.address = config_.http_address;
      options.port = static_cast<unsigned short>(config_.http_port);
      options.io_threads = config_.io_threads;
      options.worker_threads = config_.worker_threads;
      options.ws_max_queued_frames = static_cast<size_t>(std::max(config_.ws_max_queued_frames, 1));
      HttpHandler handler = instrumented_handler(router_, probe_.get());
      // Only requests from the network are limited: in-process callers (seed-demo) use the
      // router directly and are not clients that could flood us.
      if (config_.rate_limits == "on") {
        RateLimiter::Options limits;
        limits.auth = parse_rate_limit(config_.rate_limit_auth);
        limits.chat = parse_rate_limit(config_.rate_limit_chat);
        limits.general = parse_rate_limit(config_.rate_limit_general);
        limiter_ = std::make_unique<RateLimiter>(std::move(limits));
        // A valid token makes the user the client, so users behind one NAT do not share a
        // budget; a missing or bad token falls back to the address (the handler still answers
        // 401 for it if the route needs one).
        auto user_of = [this](const HttpRequest& request) -> std::optional<std::string> {
          if (!request.header("authorization")) return std::nullopt;
          auto who = authenticate(app_, request);
          if (!who) return std::nullopt;
          return who->id.value().str();
        };
        handler = rate_limited_handler(std::move(handler), *limiter_, std::move(user_of), router_,
                                       probe_.get());
      }
      // Live chat and notification delivery; the upgrade handler does its own rate limiting
      // (upgrades bypass the HTTP handler chain).
      hub_ = std::make_unique<RealtimeHub>(app_);
      hub_->start();
      relay_->set_pusher(std::make_shared<HubNotificationPusher>(*hub_));
      server_ = std::make_unique<HttpServer>(options, std::move(handler),
                                             make_websocket_routes(app_, *hub_, limiter_.get()));
      server_->start();
    }
  }
}

void Runtime::stop() {
  if (server_) server_->stop();
  // Before the hub: a pusher set on the relay may point into it.
  if (relay_) relay_->stop();
  if (hub_) hub_->stop();
  // Before the processor: records still queued are appended while it can answer them.
  if (access_) access_->stop();
  // Before the bus: it hands its commits' results to the bus (on_results_committed).
  if (processor_) processor_->stop();
  if (projector_) projector_->stop();
  if (bus_) bus_->stop();
  if (watcher_) watcher_->stop();
  if (gate_) gate_->stop();
  if (outbox_) outbox_->stop();
  if (erasures_) erasures_->stop();
  server_.reset();
  hub_.reset();
  limiter_.reset();
  processor_.reset();
  projector_.reset();
  bus_.reset();
  log_.reset();
  kafka_mock_.reset();
}

unsigned short Runtime::http_port() const {
  return server_ ? server_->port() : 0;
}

}  // namespace counsel::api
