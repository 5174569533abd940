#include "infra/pg/post_commit_notifier.hpp"

#include <chrono>
#include <memory>
#include <pqxx/nontransaction>
#include <pqxx/pqxx>

#include "infra/logging.hpp"
#include "infra/pg/connection_pool.hpp"

namespace counsel::pg {
namespace {

constexpr const char* kNotifySql =
    "SELECT set_config('synchronous_commit', 'off', true),"
    " count(pg_notify(n.channel, n.payload))"
    " FROM unnest($1::text[], $2::text[]) AS n(channel, payload)";

constexpr auto kReconnectPause = std::chrono::milliseconds(200);

// An element of a PostgreSQL array literal: double-quoted, `"` and `\` escaped.
void append_element(std::string& literal, const std::string& value) {
  if (literal.size() > 1) literal += ',';
  literal += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') literal += '\\';
    literal += c;
  }
  literal += '"';
}

}  // namespace

PostCommitNotifier::PostCommitNotifier(std::string conninfo) : conninfo_(std::move(conninfo)) {}

PostCommitNotifier::~PostCommitNotifier() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  pending_changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PostCommitNotifier::notify(const std::string& channel,
                                const std::vector<std::string>& payloads) {
  if (payloads.empty()) return;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    pending_[channel].insert(payloads.begin(), payloads.end());
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  pending_changed_.notify_one();
}

void PostCommitNotifier::run() {
  std::unique_ptr<pqxx::connection> connection;
  std::unique_lock lock(mutex_);
  while (true) {
    pending_changed_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, nothing left to say
    std::string channels = "{", payloads = "{";
    for (const auto& [channel, queued] : pending_) {
      for (const auto& payload : queued) {
        append_element(channels, channel);
        append_element(payloads, payload);
      }
    }
    channels += '}';
    payloads += '}';
    pending_.clear();
    const bool stopping = stopping_;
    lock.unlock();
    try {
      if (!connection) {
        connection = open_connection(conninfo_);
        connection->prepare("post_commit_notify", kNotifySql);
      }
      pqxx::nontransaction tx(*connection);
      tx.exec_prepared("post_commit_notify", channels, payloads);
    } catch (const std::exception& e) {
      // Dropped: the listeners find the changes when their waits time out. The next
      // notification reconnects.
      logging::warn("pg", std::string("sending notifications failed: ") + e.what());
      connection.reset();
      if (!stopping) std::this_thread::sleep_for(kReconnectPause);
    }
    lock.lock();
    if (stopping) return;
  }
}

}  // namespace counsel::pg
