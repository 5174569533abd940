#include "infra/log/append_announcer.hpp"

namespace counsel::log {

void AppendAnnouncer::announce(const std::vector<AppendedEnd>& ends) {
  std::vector<std::string> payloads;
  payloads.reserve(ends.size());
  // Several ends of one partition may go out together; readers take the furthest.
  for (const auto& e : ends) payloads.push_back(announcement_payload(e));
  notifier_.notify("counsel_log", payloads);
}

}  // namespace counsel::log
