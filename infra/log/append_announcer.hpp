#pragma once
// Wakes the postgres engine's waiting readers in other processes after appends: NOTIFY
// counsel_log with one "<topic>:<partition>:<end>" payload per partition that grew (the readers
// of this process learn it at once from AppendWatch).
//
// From a thread and connection of its own, so that an appender (the api's group append, a
// processor's commit) returns as soon as its records are committed, and so that the
// announcements of appends made while one NOTIFY is under way go out together in the next.
// Each notifying transaction makes PostgreSQL signal every listening backend of the database
// and take a database-wide lock until its commit; a busy pipeline appending in small batches
// paid that, and a round trip, per batch.
//
// Best effort: a reader that misses an announcement finds the records when its wait times
// out, as before.
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "infra/log/append_watch.hpp"

namespace counsel::log {

class AppendAnnouncer {
 public:
  explicit AppendAnnouncer(std::string conninfo);
  // Sends what is still pending, then stops.
  ~AppendAnnouncer();
  AppendAnnouncer(const AppendAnnouncer&) = delete;
  AppendAnnouncer& operator=(const AppendAnnouncer&) = delete;

  // Queues the ends; never waits for the database.
  void announce(const std::vector<AppendedEnd>& ends);

 private:
  void run();

  const std::string conninfo_;
  std::mutex mutex_;
  std::condition_variable pending_changed_;
  std::map<std::pair<Topic, int32_t>, int64_t> pending_;  // the furthest end of each partition
  bool stopping_ = false;
  std::thread thread_;  // started by the first announcement
};

}  // namespace counsel::log
