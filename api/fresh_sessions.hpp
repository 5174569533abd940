#pragma once
// The sessions this process's projector has just inserted, as the read model has them, so that
// the answer to a booking (201, sent once the read models include the booking) needs no read of
// the row it waited for: that read was one statement per booking, a fifth of them all at full
// load. The projector hands over the rows its insert returned (ProjectorRunner::
// on_rows_returned, the same columns get_session selects), and the booking's handler takes its
// own, once. Only a fresh booking's answer comes from here: any other read wants the session as
// it is now.
//
// Bounded: past `capacity` the oldest go (sessions booked through other api processes are
// never taken here). A session not found here is read from the read model as before.
//
// The row is the session as inserted, which is the session as its booking left it: a booking
// appends one event (session.requested). Should a booking ever append more for the same
// session, this would answer with the first one's row.
#include <pqxx/pqxx>

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace counsel::api {

class FreshSessions {
 public:
  explicit FreshSessions(size_t capacity = 4096) : capacity_(capacity) {}

  // Rows of projections::session_columns(), kept as their views' JSON (a batch's result is
  // not kept alive by an entry).
  void add(const pqxx::result& rows);
  // The session's view JSON (projections::session_view), once; nullopt when not here.
  std::optional<std::string> take(const std::string& session_id);
  size_t size() const;

 private:
  const size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::string> rows_;  // session id -> view JSON
  std::deque<std::string> order_;                      // oldest first; may name rows already taken
};

}  // namespace counsel::api
