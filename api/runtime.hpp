#pragma once
// Assembles the process from its parts according to the configuration: the log engine, the
// database pool, and whichever roles (api, processor, projector) this process runs.
#include <memory>

#include "api/app_context.hpp"
#include "api/router.hpp"
#include "infra/config.hpp"

namespace counsel::log {
class KafkaMockCluster;
}
namespace counsel::commands {
class CommandProcessor;
}
namespace counsel::projections {
class ProjectorRunner;
class ConsistencyWatcher;
class AccountGate;
class FieldDecryptor;
}  // namespace counsel::projections
namespace counsel::crypto {
class SubjectErasureFollower;
}

namespace counsel::api {

class HttpServer;
class RealtimeHub;
class RateLimiter;
class NotificationRelay;
class AccessProbe;
class AccessRecorder;
namespace notify {
class OutboxDispatcher;
}

struct Roles {
  bool api = false;
  bool processor = false;
  bool projector = false;
};

class Runtime {
 public:
  explicit Runtime(Config config);
  ~Runtime();

  // Applies migrations and opens the log and the pool.
  void open();
  // Starts the configured roles. With http=false the api is wired (router, command bus)
  // but no socket is opened: used by in-process tools such as seed-demo.
  void start(Roles roles, bool http = true);
  void stop();

  AppContext& app() { return app_; }
  Router& router() { return router_; }
  log::Log& log() { return *log_; }
  pg::PgPool& pool() { return *pool_; }
  projections::FieldDecryptor& decryptor() { return *decryptor_; }
  // The in-process mock cluster with --log kafka-mock, else nullptr.
  log::KafkaMockCluster* kafka_mock() { return kafka_mock_.get(); }
  unsigned short http_port() const;

 private:
  Config config_;
  std::unique_ptr<log::KafkaMockCluster> kafka_mock_;
  std::unique_ptr<pg::PgPool> pool_;
  std::unique_ptr<log::Log> log_;
  std::unique_ptr<crypto::SubjectKeyring> keyring_;
  // Erasures committed by any process reach this one's keyring cache.
  std::unique_ptr<crypto::SubjectErasureFollower> erasures_;
  std::unique_ptr<crypto::PasswordHasher> hasher_;
  std::unique_ptr<projections::FieldDecryptor> decryptor_;
  std::unique_ptr<CommandBus> bus_;
  std::unique_ptr<HttpProbe> probe_;
  std::unique_ptr<commands::CommandProcessor> processor_;
  // Before projector_: its runner hands rows over to it until stopped.
  std::unique_ptr<FreshSessions> fresh_sessions_;
  std::unique_ptr<projections::ProjectorRunner> projector_;
  std::unique_ptr<RateLimiter> limiter_;  // null with --rate-limits off
  std::unique_ptr<projections::ConsistencyWatcher> watcher_;
  std::unique_ptr<projections::AccountGate> gate_;
  std::unique_ptr<AccessProbe> access_probe_;
  std::unique_ptr<AccessRecorder> access_;
  std::unique_ptr<ReadModelCache> search_cache_;
  std::unique_ptr<KnownCounselors> known_counselors_;
  // Serving api processes only, as the outbox.
  std::unique_ptr<NotificationRelay> relay_;
  std::unique_ptr<notify::OutboxDispatcher> outbox_;  // serving api processes only
  std::unique_ptr<RealtimeHub> hub_;                  // before server_: the server's sockets use it
  std::unique_ptr<HttpServer> server_;
  AppContext app_;
  Router router_;
};

// The log engine the configuration names. With kafka-mock, `mock` receives the in-process
// cluster (topics created) and its bootstrap address is written to config.kafka_bootstrap_file.
std::unique_ptr<log::Log> open_log(const Config& config,
                                   std::unique_ptr<log::KafkaMockCluster>* mock);
// librdkafka settings from --kafka-config ("k=v,k=v") and --kafka-config-file (k=v lines).
std::vector<std::pair<std::string, std::string>> kafka_settings(const Config& config);
// Starts a mock cluster with the counsel topics and publishes its address.
std::unique_ptr<log::KafkaMockCluster> start_kafka_mock(const Config& config);

// Reads the HS256 secret, creating it (random, mode 0600) if the file is missing.
std::string load_or_create_secret(const std::string& path);

}  // namespace counsel::api
