#pragma once
// Query results cached per read-model version. A public listing (the counsellor search) is the
// same for every caller and changes only when its projection's rows do, so an api process keeps
// the JSON it answered and serves it again until the projection's version moves on
// (ConsistencyWatcher::version: projection.read_model_versions, bumped in the transaction of
// every projector batch or rebuild swap that changed the rows). An entry is stored under the
// version read *before* its query ran, so a change committed meanwhile makes it stale at once
// rather than hiding the change. Bounded by entries and bytes; when either is exceeded the least
// recently used entries go.
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace counsel::api {

class ReadModelCache {
 public:
  struct Limits {
    size_t max_entries = 4096;
    size_t max_bytes = 32u << 20;  // 32 MiB of keys and JSON
  };
  explicit ReadModelCache(Limits limits) : limits_(limits) {}
  ReadModelCache() : ReadModelCache(Limits{}) {}

  // The JSON stored for `key` at exactly `version`, if any.
  std::optional<std::string> find(const std::string& key, uint64_t version);
  // Stores `json` for `key` as of `version`; an entry of another version is replaced.
  void store(const std::string& key, uint64_t version, std::string json);

  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    size_t entries = 0;
    size_t bytes = 0;
  };
  Stats stats() const;

 private:
  struct Entry {
    std::string key;
    uint64_t version = 0;
    std::shared_ptr<const std::string> json;  // shared, so a hit copies it outside the lock
  };
  using Order = std::list<Entry>;  // most recently used first

  void erase(Order::iterator it);
  static size_t cost(const Entry& e) { return e.key.size() + e.json->size() + 64; }

  const Limits limits_;
  mutable std::mutex mutex_;
  Order order_;
  std::unordered_map<std::string, Order::iterator> index_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace counsel::api
