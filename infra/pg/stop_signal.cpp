#include "infra/pg/stop_signal.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace counsel::pg {
namespace {

// Milliseconds for poll(2), rounded up so a short positive wait does not spin.
int poll_timeout(std::chrono::microseconds timeout) {
  if (timeout <= std::chrono::microseconds::zero()) return 0;
  const auto ms = (timeout.count() + 999) / 1000;
  return ms > INT32_MAX ? INT32_MAX : static_cast<int>(ms);
}

}  // namespace

StopSignal::StopSignal() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

StopSignal::~StopSignal() {
  ::close(fd_);
}

void StopSignal::raise() noexcept {
  const uint64_t one = 1;
  // The counter only saturates after 2^64 - 2 raises; a failed write leaves it raised anyway.
  [[maybe_unused]] auto written = ::write(fd_, &one, sizeof one);
}

bool StopSignal::raised() const noexcept {
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

void StopSignal::clear() noexcept {
  uint64_t value = 0;
  [[maybe_unused]] auto got = ::read(fd_, &value, sizeof value);  // non-blocking: EAGAIN if clear
}

bool StopSignal::sleep_for(std::chrono::milliseconds how_long) const {
  pollfd p{fd_, POLLIN, 0};
  const auto until = std::chrono::steady_clock::now() + how_long;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
        until - std::chrono::steady_clock::now());
    const int n = ::poll(&p, 1, poll_timeout(left));
    if (n > 0) return true;
    if (n == 0 || (n < 0 && errno != EINTR)) return raised();
  }
}

int await_notification(pqxx::connection& connection, const StopSignal& stop,
                       std::chrono::microseconds timeout) {
  // Notifications that came with an earlier reply are already buffered: no wait for them.
  if (int delivered = connection.get_notifs(); delivered > 0) return delivered;
  pollfd fds[2] = {{connection.sock(), POLLIN, 0}, {stop.fd(), POLLIN, 0}};
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
        until - std::chrono::steady_clock::now());
    const int n = ::poll(fds, 2, poll_timeout(left));
    if (n < 0 && errno == EINTR) continue;
    if (n > 0 && (fds[1].revents & POLLIN) != 0) return 0;
    // Readable, closed (get_notifs throws for a broken connection) or timed out.
    return connection.get_notifs();
  }
}

}  // namespace counsel::pg
