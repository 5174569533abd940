#pragma once
// Counsellors a booking found in the read model, remembered while the counselors read model
// keeps its version (a profile change, a verification or an erasure moves it; bookings do
// not), so that repeat bookings skip the query. Only ids that were found are remembered: an
// id that is no counsellor is asked about every time.
#include <cstdint>
#include <mutex>
#include <unordered_set>

#include "domain/ids.hpp"

namespace counsel::api {

class KnownCounselors {
 public:
  explicit KnownCounselors(size_t capacity) : capacity_(capacity) {}

  bool contains(const Uuid& counselor, uint64_t version) const {
    std::lock_guard lock(mutex_);
    return version == version_ && ids_.contains(counselor);
  }
  // `version` is the one read before the query that found `counselor`.
  void remember(const Uuid& counselor, uint64_t version) {
    std::lock_guard lock(mutex_);
    if (version != version_) {
      if (version < version_) return;  // found against an older read model
      ids_.clear();
      version_ = version;
    }
    if (ids_.size() >= capacity_) ids_.clear();
    ids_.insert(counselor);
  }

 private:
  const size_t capacity_;
  mutable std::mutex mutex_;
  uint64_t version_ = 0;
  std::unordered_set<Uuid> ids_;  // 16 bytes and a hash node each
};

}  // namespace counsel::api
