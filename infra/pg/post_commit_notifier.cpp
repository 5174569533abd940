#include "infra/pg/post_commit_notifier.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <pqxx/nontransaction>
#include <pqxx/pqxx>

#include "infra/logging.hpp"
#include "infra/pg/array_literal.hpp"
#include "infra/pg/connection_pool.hpp"
#include "infra/pg/per_database.hpp"
#include "infra/thread_name.hpp"

namespace counsel::pg {
namespace {

constexpr const char* kNotifySql =
    "SELECT set_config('synchronous_commit', 'off', true),"
    " count(pg_notify(n.channel, n.payload))"
    " FROM unnest($1::text[], $2::text[]) AS n(channel, payload)";

constexpr auto kReconnectPause = std::chrono::milliseconds(200);

}  // namespace

PostCommitNotifier::PostCommitNotifier(std::string conninfo) : conninfo_(std::move(conninfo)) {}

std::shared_ptr<PostCommitNotifier> PostCommitNotifier::shared_for(const std::string& conninfo) {
  return shared_per_database<PostCommitNotifier>(conninfo);
}

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
  queue([&] { pending_[channel].insert(payloads.begin(), payloads.end()); });
}

void PostCommitNotifier::notify_greatest(
    const std::string& channel, const std::vector<std::pair<std::string, int64_t>>& numbered) {
  if (numbered.empty()) return;
  queue([&] {
    auto& queued = pending_numbered_[channel];
    for (const auto& [key, number] : numbered) {
      auto [it, inserted] = queued.try_emplace(key, number);
      if (!inserted) it->second = std::max(it->second, number);
    }
  });
}

void PostCommitNotifier::queue(const std::function<void()>& add) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    add();
    if (!thread_.joinable())
      thread_ = std::thread([this] {
        name_this_thread("pg-notify");
        run();
      });
  }
  pending_changed_.notify_one();
}

void PostCommitNotifier::run() {
  std::unique_ptr<pqxx::connection> connection;
  std::unique_lock lock(mutex_);
  while (true) {
    pending_changed_.wait(
        lock, [this] { return stopping_ || !pending_.empty() || !pending_numbered_.empty(); });
    if (pending_.empty() && pending_numbered_.empty()) return;  // stopping, nothing to say
    std::string channels = "{", payloads = "{";
    for (const auto& [channel, queued] : pending_) {
      for (const auto& payload : queued) {
        append_array_element(channels, channel);
        append_array_element(payloads, payload);
      }
    }
    for (const auto& [channel, queued] : pending_numbered_) {
      for (const auto& [key, number] : queued) {
        append_array_element(channels, channel);
        append_array_element(payloads, key + ":" + std::to_string(number));
      }
    }
    channels += '}';
    payloads += '}';
    pending_.clear();
    pending_numbered_.clear();
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
