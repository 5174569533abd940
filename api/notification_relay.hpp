#pragma once
// Live in-app delivery of notifications. The notifications projection announces every new
// notification on counsel_notifications; each api process runs one NotificationRelay that
// follows it (on the process's pg::ListenHub) and hands each announced notification to the "in_app"
// channel (InAppChannel: the pusher, i.e. this process's WebSockets, when one is set), then records
// the delivery in notify.outbox / notify.delivery_attempts.
//
// Every api process pushes every notification (the recipient may be connected to any of them),
// while the record is written once: the outbox row's id is the notification's id, and only the
// process that inserts it adds the attempt. GET /api/v1/notifications records the ones it
// serves that have no record yet (an announcement missed while a relay was reconnecting, or
// lost when the projector's process died between its commit and the announcement, which is
// sent after the commit: pg::PostCommitNotifier). Such a notification is in the list but was
// never pushed live.
//
// The hub's thread only queues ids; a thread of the relay loads, pushes and records them in
// batches, so a slow pusher or database never stalls the listening connection. The queue is
// bounded: beyond it, announcements are dropped (the notifications stay in the list, unpushed).
#include <pqxx/pqxx>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/notification_outbox.hpp"
#include "api/notification_push.hpp"

namespace counsel::crypto {
class SubjectKeyring;
}

namespace counsel::api {

// The "in_app" delivery channel: the notification already is in the user's list (the read
// model), so delivering means pushing it to the user's open connections when a pusher is set.
class InAppChannel final : public notify::DeliveryChannel {
 public:
  // nullptr: no live connections to push to (the list alone delivers).
  void set_pusher(std::shared_ptr<NotificationPusher> pusher);
  // message.user_id is the recipient, payload_json the notification object.
  notify::DeliveryResult deliver(const notify::OutboundMessage& message) override;

 private:
  std::mutex mutex_;
  std::shared_ptr<NotificationPusher> pusher_;
};

struct RelayOptions {
  size_t batch_size = 100;    // notifications loaded, pushed and recorded together
  size_t max_queued = 10000;  // announcements waiting; more are dropped
};

class NotificationRelay {
 public:
  NotificationRelay(std::string conninfo, crypto::SubjectKeyring& keyring,
                    RelayOptions options = {});
  ~NotificationRelay();
  NotificationRelay(const NotificationRelay&) = delete;
  NotificationRelay& operator=(const NotificationRelay&) = delete;

  // May be called at any time (the WebSocket hub starts after the relay).
  void set_pusher(std::shared_ptr<NotificationPusher> pusher);

  void start();
  void stop();

  // Delivers these notifications in-app (push, then record) on `conn`; returns how many exist.
  // The delivery thread calls it; tests may.
  size_t relay(pqxx::connection& conn, const std::vector<std::string>& notification_ids);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace counsel::api
