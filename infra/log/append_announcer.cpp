#include "infra/log/append_announcer.hpp"

namespace counsel::log {

void AppendAnnouncer::announce(const std::vector<AppendedEnd>& ends) {
  // The key and the end, sent as announcement_payload() has it: of the ends queued for one
  // partition, only the furthest goes out.
  std::vector<std::pair<std::string, int64_t>> numbered;
  numbered.reserve(ends.size());
  for (const auto& e : ends)
    numbered.emplace_back(announcement_key(e.topic, e.partition), e.end.value());
  notifier_->notify_greatest("counsel_log", numbered);
}

}  // namespace counsel::log
