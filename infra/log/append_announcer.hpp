#pragma once
// Wakes the postgres engine's waiting readers after appends: NOTIFY counsel_log with one
// "<topic>:<partition>" payload per partition that grew.
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
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace counsel::log {

class AppendAnnouncer {
 public:
  explicit AppendAnnouncer(std::string conninfo);
  // Sends what is still pending, then stops.
  ~AppendAnnouncer();
  AppendAnnouncer(const AppendAnnouncer&) = delete;
  AppendAnnouncer& operator=(const AppendAnnouncer&) = delete;

  // Queues the payloads ("<topic>:<partition>"); never waits for the database.
  void announce(const std::vector<std::string>& payloads);

 private:
  void run();

  const std::string conninfo_;
  std::mutex mutex_;
  std::condition_variable pending_changed_;
  std::set<std::string> pending_;
  bool stopping_ = false;
  std::thread thread_;  // started by the first announcement
};

}  // namespace counsel::log
