#pragma once
// A fixed-size pool of libpqxx connections shared by threads. Connections open lazily, and a
// connection found broken is dropped on release and replaced by a fresh one on a later acquire.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <stdexcept>
#include <string>
#include <vector>

namespace counsel::pg {

// Thrown by PgPool::acquire when no connection could be had within the timeout or the server
// refused a new one. PostgreSQL being down is not a per-request decision, so it is an
// exception; callers at a boundary (a request, a worker loop) turn it into a 503 or a retry.
class PgUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// libpqxx 6 silently reconnects a broken connection on next use, which would lose
// session state (advisory locks, LISTEN). Every connection we own is opened through this.
std::unique_ptr<pqxx::connection> open_connection(const std::string& conninfo);

class PgPool {
 public:
  // Runs once on every newly opened connection (e.g. to register prepared statements).
  using OnConnect = std::function<void(pqxx::connection&)>;

  // RAII loan of one connection; returning it to the pool on destruction. Not copyable.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    pqxx::connection& connection() { return *connection_; }
    pqxx::connection& operator*() { return *connection_; }
    pqxx::connection* operator->() { return connection_.get(); }
    // Closes the connection instead of returning it (use after an error that may have left
    // the session in an unknown state). Broken connections are detected without this.
    void discard() { discard_ = true; }

   private:
    friend class PgPool;
    Lease(PgPool* pool, std::unique_ptr<pqxx::connection> connection);
    PgPool* pool_;
    std::unique_ptr<pqxx::connection> connection_;
    bool discard_ = false;
  };

  PgPool(std::string conninfo, size_t size, OnConnect on_connect = {});
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // Waits up to `timeout` for a free connection, opening one if the pool is below its size.
  // Throws PgUnavailable on timeout or when a new connection cannot be opened.
  Lease acquire(std::chrono::milliseconds timeout);

  const std::string& conninfo() const { return conninfo_; }
  size_t size() const { return size_; }

 private:
  void give_back(std::unique_ptr<pqxx::connection> connection, bool discard);

  const std::string conninfo_;
  const size_t size_;
  const OnConnect on_connect_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  size_t open_ = 0;  // idle + leased + being opened
};

}  // namespace counsel::pg
