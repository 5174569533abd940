#include "infra/log/append_announcer.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <pqxx/nontransaction>
#include <pqxx/pqxx>

#include "infra/logging.hpp"
#include "infra/pg/connection_pool.hpp"

namespace counsel::log {
namespace {

// This transaction writes nothing worth flushing, so it commits without waiting for the disk.
constexpr const char* kNotifySql =
    "SELECT set_config('synchronous_commit', 'off', true),"
    " count(pg_notify('counsel_log', c)) FROM unnest($1::text[]) AS c";

constexpr auto kReconnectPause = std::chrono::milliseconds(200);

std::string text_array(const std::map<std::pair<Topic, int32_t>, int64_t>& ends) {
  std::string out = "{";
  for (const auto& [partition, end] : ends) {
    if (out.size() > 1) out += ',';
    // digits and colons: no quoting needed
    out += announcement_payload({partition.first, PartitionId{partition.second}, Offset{end}});
  }
  return out + '}';
}

}  // namespace

AppendAnnouncer::AppendAnnouncer(std::string conninfo) : conninfo_(std::move(conninfo)) {}

AppendAnnouncer::~AppendAnnouncer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  pending_changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AppendAnnouncer::announce(const std::vector<AppendedEnd>& ends) {
  if (ends.empty()) return;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    for (const auto& e : ends) {
      auto& end = pending_[{e.topic, e.partition.value()}];
      end = std::max(end, e.end.value());
    }
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  pending_changed_.notify_one();
}

void AppendAnnouncer::run() {
  std::unique_ptr<pqxx::connection> connection;
  std::unique_lock lock(mutex_);
  while (true) {
    pending_changed_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, nothing left to say
    const std::string payloads = text_array(pending_);
    pending_.clear();
    const bool stopping = stopping_;
    lock.unlock();
    try {
      if (!connection) {
        connection = pg::open_connection(conninfo_);
        connection->prepare("log_announce", kNotifySql);
      }
      pqxx::nontransaction tx(*connection);
      tx.exec_prepared("log_announce", payloads);
    } catch (const std::exception& e) {
      // Dropped: the readers' waits time out instead. The next announcement reconnects.
      logging::warn("log", std::string("announcing appends failed: ") + e.what());
      connection.reset();
      if (!stopping) std::this_thread::sleep_for(kReconnectPause);
    }
    lock.lock();
    if (stopping) return;
  }
}

}  // namespace counsel::log
