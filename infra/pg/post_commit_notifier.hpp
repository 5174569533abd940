#pragma once
// Sends NOTIFYs after the fact, from a thread and connection of its own, for writers that must
// not notify inside their own transaction.
//
// PostgreSQL takes a database-wide lock when a notifying transaction commits and holds it until
// the commit is flushed, so notifying transactions run one at a time: a projector batch that
// notified at commit waited behind every other notifying commit (3.4 ms of its commit, of a
// 19 ms batch, in the booking bench). Here the writer commits first and hands its payloads
// over; they go out together with whatever else was queued meanwhile, in one transaction that
// does not wait for the disk (it writes nothing worth flushing). Repeats of a payload on a
// channel are sent once.
//
// Best effort: a payload is lost if the process dies before sending it, or if the database is
// unreachable then. Every listener must also look on its own from time to time (each one in
// this code base re-reads after a timeout).
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace counsel::pg {

class PostCommitNotifier {
 public:
  explicit PostCommitNotifier(std::string conninfo);
  // The notifier this process's writers to `conninfo` share (made on first use, kept while one
  // of them holds it). PostgreSQL wakes every listening backend of the database on each
  // notifying commit, whatever its channels, so the log's announcements and the projector's
  // going out together in one transaction when they meet cost one round of wake-ups, not two.
  static std::shared_ptr<PostCommitNotifier> shared_for(const std::string& conninfo);
  // Sends what is still queued, then stops.
  ~PostCommitNotifier();
  PostCommitNotifier(const PostCommitNotifier&) = delete;
  PostCommitNotifier& operator=(const PostCommitNotifier&) = delete;

  // Queues NOTIFY `channel` with each payload; never waits for the database.
  void notify(const std::string& channel, const std::vector<std::string>& payloads);
  // Queues NOTIFY `channel` with "<key>:<number>" for each pair, keeping only the greatest
  // number queued per key (a partition's end: readers want the furthest one only).
  void notify_greatest(const std::string& channel,
                       const std::vector<std::pair<std::string, int64_t>>& numbered);

 private:
  // Runs `add` (which fills the pending maps) under the lock, unless stopping, and wakes the
  // sending thread, started on first use.
  void queue(const std::function<void()>& add);
  void run();

  const std::string conninfo_;
  std::mutex mutex_;
  std::condition_variable pending_changed_;
  std::map<std::string, std::set<std::string>> pending_;  // channel -> payloads
  // channel -> key -> greatest number
  std::map<std::string, std::map<std::string, int64_t>> pending_numbered_;
  bool stopping_ = false;
  std::thread thread_;  // started by the first notify()
};

}  // namespace counsel::pg
