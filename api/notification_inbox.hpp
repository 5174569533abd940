#pragma once
// A user's in-app notifications: the rows of the notifications projection (read.notifications)
// joined with what lives outside the read models because no event records it: whether the user
// has read each one (notify.notification_reads) and whether it was delivered in-app
// (notify.outbox, channel "in_app", the outbox row's id being the notification's id).
#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/notification_outbox.hpp"
#include "domain/expected.hpp"
#include "domain/uuid.hpp"

namespace counsel::crypto {
class SubjectKeyring;
}

namespace counsel::api::inbox {

inline constexpr int kDefaultLimit = 50;
inline constexpr int kMaxLimit = 100;

struct Notification {
  std::string id;
  std::string recipient_id;
  std::string kind;
  std::string json;  // {id, kind, subject_id, data, created_at, read}
  bool read = false;
  bool delivered = false;  // an in_app outbox row exists
};

// Newest first; (created_at, id) orders the list. With after_id: the `limit` notifications
// right after that one (what a polling client has not seen yet), still newest first; with
// before_id: the `limit` right before it (scrolling back). At most one of the two.
struct ListOptions {
  bool unread_only = false;
  std::optional<Uuid> after_id;
  std::optional<Uuid> before_id;
  int limit = kDefaultLimit;  // 1..kMaxLimit
};

struct Page {
  std::vector<Notification> items;
  bool has_more = false;     // more beyond the page in its direction
  int64_t unread_count = 0;  // of all the user's notifications
};

enum class ListFailure {
  unknown_cursor,  // after_id / before_id is not one of the user's notifications
};

Expected<Page, ListFailure> list(pqxx::connection& conn, const std::string& user_id,
                                 const ListOptions& options);
// {results: [...], has_more, unread_count}
std::string page_json(const Page& page);

// The notifications with these ids (any recipient), in no particular order; unknown ids are
// left out.
std::vector<Notification> load(pqxx::connection& conn, const std::vector<std::string>& ids);

// Marks one of the user's notifications read (keeping the first read time). False when it is
// not one of theirs (someone else's, or unknown).
bool mark_read(pqxx::connection& conn, const std::string& user_id, const Uuid& notification_id);
// Marks every notification the user has now read; returns how many were unread.
int64_t mark_all_read(pqxx::connection& conn, const std::string& user_id);

// The outcome of delivering one notification in-app, to be recorded.
struct InAppDelivery {
  const Notification* notification = nullptr;
  notify::DeliveryResult result;
};

// Records each delivery as an "in_app" outbox row (id = the notification's id, payload sealed
// with the recipient's key) plus its one attempt. Idempotent across processes: the first
// recorder wins, later ones change nothing. Deliveries of a recipient whose key is gone
// (erased) are not recorded.
void record_in_app_deliveries(pqxx::connection& conn, const std::vector<InAppDelivery>& deliveries,
                              crypto::SubjectKeyring& keyring);

}  // namespace counsel::api::inbox
