#include "api/read_model_cache.hpp"

namespace counsel::api {

std::optional<std::string> ReadModelCache::find(const std::string& key, uint64_t version) {
  std::shared_ptr<const std::string> json;
  {
    std::lock_guard lock(mutex_);
    auto it = index_.find(key);
    if (it == index_.end() || it->second->version != version) {
      ++misses_;
      return std::nullopt;
    }
    order_.splice(order_.begin(), order_, it->second);
    ++hits_;
    json = it->second->json;
  }
  return *json;
}

void ReadModelCache::store(const std::string& key, uint64_t version, std::string json) {
  Entry entry{key, version, std::make_shared<const std::string>(std::move(json))};
  const size_t size = cost(entry);
  if (size > limits_.max_bytes || limits_.max_entries == 0) return;
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(key); it != index_.end()) {
    // A slower request of an older version must not replace a newer entry.
    if (it->second->version > version) return;
    erase(it->second);
  }
  while (!order_.empty() &&
         (order_.size() >= limits_.max_entries || bytes_ + size > limits_.max_bytes)) {
    erase(std::prev(order_.end()));
  }
  order_.push_front(std::move(entry));
  index_[key] = order_.begin();
  bytes_ += size;
}

ReadModelCache::Stats ReadModelCache::stats() const {
  std::lock_guard lock(mutex_);
  return {hits_, misses_, order_.size(), bytes_};
}

void ReadModelCache::erase(Order::iterator it) {
  bytes_ -= cost(*it);
  index_.erase(it->key);
  order_.erase(it);
}

}  // namespace counsel::api
