#pragma once
// Wakes the postgres engine's waiting readers in other processes after appends: NOTIFY
// counsel_log with one "<topic>:<partition>:<end>" payload per partition that grew (the readers
// of this process learn it at once from AppendWatch).
//
// Sent after the commit by a pg::PostCommitNotifier, so that an appender (the api's group
// append, a processor's commit) returns as soon as its records are committed, and so that the
// announcements of appends made while one NOTIFY is under way go out together in the next.
// Each notifying transaction makes PostgreSQL signal every listening backend of the database
// and take a database-wide lock until its commit; a busy pipeline appending in small batches
// paid that, and a round trip, per batch.
//
// Best effort: a reader that misses an announcement finds the records when its wait times
// out, as before.
#include <string>
#include <vector>

#include "infra/log/append_watch.hpp"
#include "infra/pg/post_commit_notifier.hpp"

namespace counsel::log {

class AppendAnnouncer {
 public:
  explicit AppendAnnouncer(const std::string& conninfo)
      : notifier_(pg::PostCommitNotifier::shared_for(conninfo)) {}

  // Queues the ends; never waits for the database.
  void announce(const std::vector<AppendedEnd>& ends);

 private:
  std::shared_ptr<pg::PostCommitNotifier> notifier_;
};

}  // namespace counsel::log
