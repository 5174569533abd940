#pragma once
// Helpers for tests of consumer groups on any log engine: a listener that records what the group
// hands out (and keeps revoked leases alive, as a slow owner would), and a loop that polls
// several members until a condition holds.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "infra/log/log.hpp"

namespace counsel::testing {

// Callbacks run on the polling thread; the accessors may be called from any thread.
class RecordingListener : public log::RebalanceListener {
 public:
  void on_assigned(std::vector<std::unique_ptr<log::PartitionLease>> leases) override {
    std::lock_guard lock(mutex_);
    for (auto& lease : leases) {
      const int p = lease->partition().value();
      leases_[p] = std::move(lease);
    }
  }
  void on_revoked(const std::vector<log::PartitionId>& revoked) override {
    std::lock_guard lock(mutex_);
    for (const auto& p : revoked) {
      if (auto it = leases_.find(p.value()); it != leases_.end()) {
        revoked_.emplace(p.value(), std::move(it->second));
        leases_.erase(it);
      }
    }
  }
  size_t owned() {
    std::lock_guard lock(mutex_);
    return leases_.size();
  }
  std::set<int> partitions_owned() {
    std::lock_guard lock(mutex_);
    std::set<int> out;
    for (const auto& [p, lease] : leases_) out.insert(p);
    return out;
  }
  log::PartitionLease& lease(int partition) {
    std::lock_guard lock(mutex_);
    return *leases_.at(partition);
  }
  std::unique_ptr<log::PartitionLease> take_lease(int partition) {
    std::lock_guard lock(mutex_);
    auto lease = std::move(leases_.at(partition));
    leases_.erase(partition);
    return lease;
  }
  // A lease of `partition` this member held before it was revoked (nullptr if none was).
  log::PartitionLease* revoked_lease(int partition) {
    std::lock_guard lock(mutex_);
    auto it = revoked_.find(partition);
    return it == revoked_.end() ? nullptr : it->second.get();
  }

 private:
  std::mutex mutex_;
  std::map<int, std::unique_ptr<log::PartitionLease>> leases_;
  std::multimap<int, std::unique_ptr<log::PartitionLease>> revoked_;
};

// Polls every consumer in turn (a group member only takes part in a rebalance while it polls)
// until `done` holds or the time is up.
template <class Done>
bool poll_until(std::vector<log::GroupConsumer*> consumers, Done done,
                std::chrono::milliseconds limit = std::chrono::seconds(15)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto* consumer : consumers) (void)consumer->poll(100, std::chrono::milliseconds(20));
    if (done()) return true;
  }
  return false;
}

}  // namespace counsel::testing
