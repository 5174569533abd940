#include <stdexcept>

#include "infra/log/log.hpp"
#include "infra/logging.hpp"

namespace counsel::log {

std::vector<std::vector<Position>> positions_per_commit(const std::vector<Position>& positions,
                                                        const std::vector<LeaseCommit>& commits) {
  std::vector<std::vector<Position>> out(commits.size());
  auto next = positions.begin();
  for (size_t i = 0; i < commits.size(); ++i) {
    const auto n = static_cast<std::ptrdiff_t>(commits[i].records->size());
    if (positions.end() - next < n)
      throw std::logic_error("a group commit returned fewer positions than it had records");
    out[i].assign(next, next + n);
    next += n;
  }
  return out;
}

void call_before_announcing(const GroupConsumer::BeforeAnnouncing& hook,
                            const std::vector<std::vector<Position>>& positions) noexcept {
  if (!hook) return;
  try {
    hook(positions);
  } catch (const std::exception& e) {
    logging::warn("log", std::string("a committed group's hook failed: ") + e.what());
  } catch (...) {
    logging::warn("log", "a committed group's hook failed");
  }
}

}  // namespace counsel::log
