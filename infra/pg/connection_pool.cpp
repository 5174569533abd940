#include "infra/pg/connection_pool.hpp"

#include <pqxx/except>

namespace counsel::pg {

std::unique_ptr<pqxx::connection> open_connection(const std::string& conninfo) {
  auto connection = std::make_unique<pqxx::connection>(conninfo);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  connection->inhibit_reactivation(true);
#pragma GCC diagnostic pop
  return connection;
}

namespace {

// Reads whatever the server sent while the connection sat idle, without a round trip: a
// session the server ended (restart, pg_terminate_backend) shows up here as end of stream.
// Twice: the first read may only consume the server's goodbye message, the second then hits
// the end of the stream. On a healthy connection both return at once.
bool still_usable(pqxx::connection& connection) {
  try {
    connection.get_notifs();
    connection.get_notifs();
    return connection.is_open();
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

PgPool::Lease::Lease(PgPool* pool, std::unique_ptr<pqxx::connection> connection)
    : pool_(pool), connection_(std::move(connection)) {}

PgPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), connection_(std::move(other.connection_)), discard_(other.discard_) {
  other.pool_ = nullptr;
}

PgPool::Lease::~Lease() {
  if (pool_ != nullptr && connection_) pool_->give_back(std::move(connection_), discard_);
}

PgPool::PgPool(std::string conninfo, size_t size, OnConnect on_connect)
    : conninfo_(std::move(conninfo)),
      size_(size == 0 ? 1 : size),
      on_connect_(std::move(on_connect)) {}

PgPool::~PgPool() {
  std::lock_guard lock(mutex_);
  idle_.clear();
}

PgPool::Lease PgPool::acquire(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  while (true) {
    while (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      // The check reads from the socket: not under the lock the other threads wait for.
      lock.unlock();
      if (still_usable(*connection)) return Lease(this, std::move(connection));
      connection.reset();
      lock.lock();
      --open_;  // died while idle: drop it and look again
    }
    if (open_ < size_) break;
    if (returned_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= size_) {
      throw PgUnavailable("no PostgreSQL connection free within " +
                          std::to_string(timeout.count()) + " ms (pool size " +
                          std::to_string(size_) + ")");
    }
  }
  // Open outside the lock: connecting takes a round trip or a timeout.
  ++open_;
  lock.unlock();
  try {
    auto connection = open_connection(conninfo_);
    if (on_connect_) on_connect_(*connection);
    return Lease(this, std::move(connection));
  } catch (const std::exception& e) {
    lock.lock();
    --open_;
    lock.unlock();
    returned_.notify_one();
    throw PgUnavailable(std::string("cannot connect to PostgreSQL: ") + e.what());
  }
}

void PgPool::give_back(std::unique_ptr<pqxx::connection> connection, bool discard) {
  const bool reusable = !discard && connection->is_open();
  {
    std::lock_guard lock(mutex_);
    if (reusable) {
      idle_.push_back(std::move(connection));
    } else {
      --open_;
    }
  }
  connection.reset();  // closing a dropped connection needs no lock
  returned_.notify_one();
}

}  // namespace counsel::pg
