#include "infra/log/append_announcer.hpp"

namespace counsel::log {

void AppendAnnouncer::announce(const std::vector<AppendedEnd>& ends) {
  // "<topic>:<partition>" and the end: of the ends queued for one partition, only the furthest
  // goes out (announcement_payload's format).
  std::vector<std::pair<std::string, int64_t>> numbered;
  numbered.reserve(ends.size());
  for (const auto& e : ends)
    numbered.emplace_back(
        std::to_string(static_cast<int>(e.topic)) + ":" + std::to_string(e.partition.value()),
        e.end.value());
  notifier_.notify_greatest("counsel_log", numbered);
}

}  // namespace counsel::log
