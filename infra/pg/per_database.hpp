#pragma once
// One T per process and database (conninfo), for the parts of a process that must share a
// connection's worth of work (PostCommitNotifier, ListenHub): made by the first to ask, kept
// while one of them holds it, made anew after the last has let go.
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace counsel::pg {

// T is constructed from the conninfo.
template <class T>
std::shared_ptr<T> shared_per_database(const std::string& conninfo) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<T>> instances;
  std::lock_guard lock(mutex);
  auto& slot = instances[conninfo];
  auto instance = slot.lock();
  if (!instance) {
    instance = std::make_shared<T>(conninfo);
    slot = instance;
  }
  return instance;
}

}  // namespace counsel::pg
