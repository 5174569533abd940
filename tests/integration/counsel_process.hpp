#pragma once
// Runs a role of the real `counsel` binary (COUNSEL_BINARY) as a child process against a test's
// database and log, for faults that end a process (COUNSEL_FAULT hooks call _Exit). A spawned
// process rather than a fork of the test: librdkafka's threads do not survive a fork.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/integration/test_database.hpp"
#include "tests/integration/test_log_engines.hpp"

extern char** environ;

namespace counsel::testing {

// `counsel ROLE --db ... [--log kafka --kafka-brokers ...]` with COUNSEL_FAULT=fault (none if
// empty). Its output goes to the test's output. Returns the child's pid.
inline pid_t spawn_counsel(const TestLog& log, const TestDatabase& db, const std::string& role,
                           const std::string& fault, const std::string& member = "spawned") {
  std::vector<std::string> args{COUNSEL_BINARY,  role,           "--db",
                                db.conninfo(),   "--partitions", std::to_string(log.partitions()),
                                "--member-name", member};
  if (log.is_kafka()) {
    args.insert(args.end(), {"--log", "kafka", "--kafka-brokers", log.bootstrap_servers(),
                             "--kafka-config", kafka_mock_client_settings()});
  } else {
    args.insert(args.end(), {"--log", "postgres"});
  }
  std::vector<std::string> env;
  if (!fault.empty()) env.push_back("COUNSEL_FAULT=" + fault);
  for (char** e = environ; *e != nullptr; ++e) {
    if (!std::string_view(*e).starts_with("COUNSEL_FAULT=")) env.emplace_back(*e);
  }
  auto pointers = [](std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
  };
  auto argv = pointers(args);
  auto envp = pointers(env);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, COUNSEL_BINARY, nullptr, nullptr, argv.data(), envp.data());
  if (rc != 0) throw std::runtime_error("cannot start " COUNSEL_BINARY ": " + std::to_string(rc));
  return pid;
}

// Waits for a child to exit; kills it (and returns false) if it outlives `limit`.
inline bool wait_for_exit(pid_t child, std::chrono::milliseconds limit, int& status) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(child, &status, WNOHANG) == child) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, &status, 0);
  return false;
}

}  // namespace counsel::testing
