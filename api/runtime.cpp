#include "api/runtime.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "api/handler_support.hpp"
#include "api/http_probe.hpp"
#include "api/http_server.hpp"
#include "commands/command_processor.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "infra/crypto/password_hasher.hpp"
#include "infra/log/postgres_log.hpp"
#include "infra/logging.hpp"
#include "infra/pg/connection_pool.hpp"
#include "infra/pg/migrations.hpp"
#include "infra/random_ids.hpp"
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

}  // namespace

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
  if (config_.log_engine != "postgres")
    throw std::runtime_error("log engine '" + config_.log_engine +
                             "' is not available in this build; use --log postgres");
  log_ = log::make_postgres_log(config_.db, config_.partitions, config_.member_name);
  pool_ = std::make_unique<pg::PgPool>(config_.db, static_cast<size_t>(config_.db_pool_size));
  keyring_ = std::make_unique<crypto::SubjectKeyring>(*pool_);
  {
    // The read tables exist before any role queries them, even on a fresh database.
    auto lease = pool_->acquire(std::chrono::seconds(10));
    projections::ensure_read_models(lease.connection());
  }
  decryptor_ = std::make_unique<projections::KeyringFieldDecryptor>(*keyring_);
}

void Runtime::start(Roles roles, bool http) {
  if (roles.projector) {
    projector_ = std::make_unique<projections::ProjectorRunner>(*pool_, *log_, *decryptor_);
    projector_->start();
  }
  if (roles.processor) {
    commands::ProcessorOptions options;
    options.fault = config_.fault;
    processor_ = std::make_unique<commands::CommandProcessor>(*log_, options);
    processor_->start();
  }
  if (roles.api) {
    hasher_ = std::make_unique<crypto::PasswordHasher>(cost_from(config_.password_hash_cost));
    bus_ = std::make_unique<CommandBus>(*log_);
    bus_->start();
    probe_ = std::make_unique<HttpProbe>();
    app_.config = config_;
    app_.pool = pool_.get();
    app_.log = log_.get();
    app_.bus = bus_.get();
    app_.keyring = keyring_.get();
    app_.hasher = hasher_.get();
    app_.probe = probe_.get();
    app_.jwt_secret = load_or_create_secret(config_.jwt_secret_file);
    register_ops_routes(router_, app_);
    register_auth_routes(router_, app_);
    register_counselor_routes(router_, app_);
    register_session_routes(router_, app_);
    if (http) {
      HttpServerOptions options;
      options.address = config_.http_address;
      options.port = static_cast<unsigned short>(config_.http_port);
      options.io_threads = config_.io_threads;
      options.worker_threads = config_.worker_threads;
      server_ = std::make_unique<HttpServer>(options, instrumented_handler(router_, probe_.get()));
      server_->start();
    }
  }
}

void Runtime::stop() {
  if (server_) server_->stop();
  if (processor_) processor_->stop();
  if (projector_) projector_->stop();
  if (bus_) bus_->stop();
  server_.reset();
  processor_.reset();
  projector_.reset();
  bus_.reset();
}

unsigned short Runtime::http_port() const {
  return server_ ? server_->port() : 0;
}

}  // namespace counsel::api
