#pragma once
// Lets a thread that blocks on a LISTENing connection be stopped at once. The listeners used to
// wait for notifications in slices of 100-200 ms and look at a flag between them, so every
// stop() (a CLI command's exit, each runtime a test tears down) waited out a slice per thread.
// Here the wait polls the connection's socket and an eventfd together, and stop() writes the
// eventfd.
#include <chrono>
#include <pqxx/connection>

namespace counsel::pg {

class StopSignal {
 public:
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // Idempotent; safe from any thread. Wakes every current and later wait.
  void raise() noexcept;
  bool raised() const noexcept;
  // Re-arms after a stop, for objects that can be started again.
  void clear() noexcept;

  // Sleeps for `how_long` or until raised. True when raised.
  bool sleep_for(std::chrono::milliseconds how_long) const;

  int fd() const noexcept { return fd_; }

 private:
  int fd_;
};

// Delivers the notifications that arrive on `connection` within `timeout` to its receivers
// (as pqxx's await_notification does) and returns how many; returns early, with 0, when `stop`
// is raised. Throws what pqxx throws for a broken connection.
int await_notification(pqxx::connection& connection, const StopSignal& stop,
                       std::chrono::microseconds timeout);

}  // namespace counsel::pg
