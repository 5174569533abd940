// The `counsel` binary: one executable, several roles (see `counsel --help`).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <iomanip>
#include <iostream>

#include "api/access_policy.hpp"
#include "api/cli/audit_replay.hpp"
#include "api/cli/audit_verify.hpp"
#include "api/cli/demo_data.hpp"
#include "api/cli/event_log_check.hpp"
#include "api/cli/user_admin.hpp"
#include "api/runtime.hpp"
#include "infra/config.hpp"
#include "infra/log/kafka_mock_cluster.hpp"
#include "infra/logging.hpp"
#include "infra/pg/migrations.hpp"
#include "projections/projection.hpp"
#include "projections/rebuild.hpp"

namespace {

using namespace counsel;

// Blocks the stop signals in every thread (threads inherit the mask), so the main thread
// alone receives them through sigwait.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int serve(const Config& config, api::Roles roles) {
  sigset_t stop_signals = block_stop_signals();
  api::Runtime runtime(config);
  runtime.open();
  runtime.start(roles, roles.api);
  if (roles.api)
    std::cout << "listening on http://" << config.http_address << ":" << runtime.http_port()
              << std::endl;
  if (config.demo_data && roles.api)
    api::seed_demo_data(runtime.router(), runtime.app(), std::cout);
  std::cout << "counsel " << config.command.front() << " running (log engine "
            << runtime.log().engine_name() << ", " << config.partitions
            << " partitions); Ctrl-C stops" << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  logging::info("main", std::string("stopping on ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
  runtime.stop();
  std::cout << "stopped" << std::endl;
  return 0;
}

// A standalone mock Kafka cluster for trying the Kafka path (and for multi-process tests):
// other counsel processes join it with --log kafka --kafka-brokers <printed address>.
int kafka_mock(const Config& config) {
  sigset_t stop_signals = block_stop_signals();
  auto mock = api::start_kafka_mock(config);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  mock.reset();
  std::cout << "stopped" << std::endl;
  return 0;
}

int migrate(const Config& config) {
  auto applied = pg::apply_migrations(config.db);
  std::cout << (applied.empty() ? "schema is current" : "applied migrations:");
  for (auto& m : applied) std::cout << " " << m.version << "_" << m.name;
  std::cout << std::endl;
  return 0;
}

int seed_demo(const Config& config) {
  block_stop_signals();
  api::Runtime runtime(config);
  runtime.open();
  runtime.start({.api = true, .processor = true, .projector = true}, /*http=*/false);
  bool loaded = api::seed_demo_data(runtime.router(), runtime.app(), std::cout);
  runtime.stop();
  if (loaded) std::cout << "demo data loaded" << std::endl;
  return 0;
}

// Runs the api role without HTTP: the command goes through the log to the processors of the
// running system, so this works against a live deployment without joining its groups.
int users_create_admin(const Config& config) {
  block_stop_signals();
  api::Runtime runtime(config);
  runtime.open();
  runtime.start({.api = true}, /*http=*/false);
  int status =
      api::create_admin(runtime, config, std::cin, isatty(STDIN_FILENO), std::cout, std::cerr);
  runtime.stop();
  return status;
}

int rebuild_some(api::Runtime& runtime, const std::vector<std::string>& names,
                 const std::string& label);

// `projections rebuild [NAME]`: one projection, or every one (no NAME, or "all") in a single
// read of the log and a single swap.
int rebuild(const Config& config, const std::string& name) {
  auto names = projections::projection_names();
  const bool all = name.empty() || name == "all";
  if (!all && std::find(names.begin(), names.end(), name) == names.end()) {
    std::cerr << "counsel: unknown projection '" << name << "' (known:";
    for (auto& n : names) std::cerr << " " << n;
    std::cerr << ", or all)\n";
    return 2;
  }
  api::Runtime runtime(config);
  runtime.open();
  if (!all) return rebuild_some(runtime, {name}, name);
  return rebuild_some(runtime, names, "all");
}

int rebuild_some(api::Runtime& runtime, const std::vector<std::string>& names,
                 const std::string& label) {
  bool tty = isatty(STDERR_FILENO);
  auto started = std::chrono::steady_clock::now();
  auto last_print = started;
  projections::RebuildOptions options;
  options.progress = [&](const projections::RebuildProgress& p) {
    int64_t done = p.events_done, total = p.events_total;
    double per_sec = p.events_per_second;
    auto now = std::chrono::steady_clock::now();
    if (now - last_print < std::chrono::milliseconds(200) && done != total) return;
    last_print = now;
    if (tty) {
      int pct = total > 0 ? static_cast<int>(done * 100 / total) : 100;
      std::cerr << "\rrebuilding " << label << ": " << done << "/" << total << " events (" << pct
                << "%), " << static_cast<int64_t>(per_sec) << " events/s   " << std::flush;
    }
  };
  auto result = projections::rebuild_projections(runtime.pool(), runtime.log(), runtime.decryptor(),
                                                 names, options);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (tty) std::cerr << "\n";
  std::cout << "rebuilt " << label << ": " << result.events << " events in " << std::fixed
            << std::setprecision(2) << seconds << " s ("
            << static_cast<int64_t>(seconds > 0 ? result.events / seconds : 0) << " events/s)"
            << std::endl;
  return 0;
}

// Who may call what (api/access_policy.cpp) as JSON, for people and for the authorization test;
// needs no database.
int print_routes() {
  std::cout << api::access_policy_json();
  return 0;
}

int log_check(const Config& config) {
  api::Runtime runtime(config);
  runtime.open();
  auto report = api::check_event_log(runtime.log(), api::default_schemas_dir(),
                                     isatty(STDERR_FILENO) ? &std::cerr : nullptr);
  std::cout << "events: " << report.events << ", broken links: " << report.broken_links
            << ", schema failures: " << report.schema_failures
            << ", sequence errors: " << report.sequence_errors << std::endl;
  if (!report.intact()) {
    std::cout << "first problem: " << report.first_problem << std::endl;
    return 1;
  }
  std::cout << "the events log is intact" << std::endl;
  return 0;
}

// Usage errors are found before connecting, so a typo never waits on the database.
int audit_replay(const Config& config) {
  auto options = api::parse_replay_options(config);
  if (!options) {
    std::cerr << "counsel audit replay: " << options.error() << "\n";
    return 2;
  }
  api::Runtime runtime(config);
  runtime.open();
  return api::run_audit_replay(runtime.log(), *options, std::cerr, isatty(STDERR_FILENO));
}

int audit_verify(const Config& config) {
  std::vector<api::ChainCheckpoint> checkpoints;
  for (auto& text : config.audit_checkpoints) {
    auto checkpoint = api::parse_chain_checkpoint(text);
    if (!checkpoint || checkpoint->partition >= config.partitions) {
      std::cerr << "counsel audit verify: --from-checkpoint '" << text
                << "' is not P:O:HASH (partition below --partitions, a 64-digit hex hash)\n";
      return 2;
    }
    for (auto& earlier : checkpoints)
      if (earlier.partition == checkpoint->partition) {
        std::cerr << "counsel audit verify: two checkpoints for partition " << checkpoint->partition
                  << "\n";
        return 2;
      }
    checkpoints.push_back(*checkpoint);
  }
  api::Runtime runtime(config);
  runtime.open();
  auto report = api::verify_event_chains(runtime.log(), checkpoints,
                                         isatty(STDERR_FILENO) ? &std::cerr : nullptr);
  return api::print_audit_verify_report(report, std::cout);
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_config(argc, argv);
  if (!parsed.config) return parsed.exit_code;
  const Config& config = *parsed.config;
  const auto& cmd = config.command;
  try {
    if (cmd[0] == "serve")
      return serve(config, {.api = true, .processor = true, .projector = true});
    if (cmd[0] == "api") return serve(config, {.api = true});
    if (cmd[0] == "processor") return serve(config, {.processor = true});
    if (cmd[0] == "projector") return serve(config, {.projector = true});
    if (cmd[0] == "migrate") return migrate(config);
    if (cmd[0] == "kafka-mock") return kafka_mock(config);
    if (cmd[0] == "seed-demo") return seed_demo(config);
    if (cmd[0] == "projections" && (cmd.size() == 2 || cmd.size() == 3) && cmd[1] == "rebuild")
      return rebuild(config, cmd.size() == 3 ? cmd[2] : "");
    if (cmd[0] == "log" && cmd.size() == 2 && cmd[1] == "check") return log_check(config);
    if (cmd[0] == "audit" && cmd.size() == 2 && cmd[1] == "replay") return audit_replay(config);
    if (cmd[0] == "audit" && cmd.size() == 2 && cmd[1] == "verify") return audit_verify(config);
    if (cmd[0] == "routes") return print_routes();
    if (cmd[0] == "users" && cmd.size() == 2 && cmd[1] == "create-admin")
      return users_create_admin(config);
    std::cerr << "counsel: unknown command '" << cmd[0] << "' (see counsel --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "counsel: " << e.what() << "\n";
    return 1;
  }
}
