#include "infra/log/append_announcer.hpp"

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

std::string text_array(const std::set<std::string>& payloads) {
  std::string out = "{";
  for (const auto& p : payloads) {
    if (out.size() > 1) out += ',';
    out += p;  // digits and a colon: no quoting needed
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

void AppendAnnouncer::announce(const std::vector<std::string>& payloads) {
  if (payloads.empty()) return;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    pending_.insert(payloads.begin(), payloads.end());
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
