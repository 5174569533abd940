#pragma once
// Live delivery to the WebSockets of this api process (Beast-free: it sees only
// WebSocketConnection).
//
// Chat frames are driven by the events log: a reader tails the events topic on every partition
// from its end, and each chat.message_sent / chat.messages_read event is rendered once and
// fanned out to the sockets subscribed to its room here. A message therefore reaches every
// participant connected to any api process, whichever process accepted it, in the room's
// stream order (one stream, one partition, one reader). Typing indicators are ephemeral: a
// PostgreSQL NOTIFY on counsel_typing, never an event. Notifications are pushed by whoever
// calls push_notification (the notification relay, after the notifications projection
// announced a new row).
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/app_context.hpp"
#include "api/http_server.hpp"
#include "api/notification_push.hpp"
#include "infra/pg/listen_hub.hpp"
#include "infra/pg/stop_signal.hpp"

namespace counsel::api {

class RealtimeHub {
 public:
  explicit RealtimeHub(AppContext& app);
  ~RealtimeHub();
  RealtimeHub(const RealtimeHub&) = delete;
  RealtimeHub& operator=(const RealtimeHub&) = delete;

  // Positions the events reader at the end of every partition, then follows it.
  void start();
  void stop();

  struct RoomSubscription;
  // Subscribes `conn` to the room's live frames. With a non-empty `after_message_id` the
  // messages after it are sent first (what a reconnecting client missed); live frames that
  // arrive meanwhile wait and are not sent twice. Blocks for the backlog query.
  std::shared_ptr<RoomSubscription> join_room(
      const std::string& room_id, const std::string& user_id,
      const std::shared_ptr<WebSocketConnection>& conn, const std::string& after_message_id,
      const std::function<std::vector<std::string>()>& backlog);
  void leave_room(const std::shared_ptr<RoomSubscription>& subscription);
  // Tells the room's other participants, on every api process, that `user_id` is typing.
  void typing(const std::string& room_id, const std::string& user_id);

  void watch_notifications(const std::string& user_id,
                           const std::shared_ptr<WebSocketConnection>& conn);
  void unwatch_notifications(const std::string& user_id,
                             const std::shared_ptr<WebSocketConnection>& conn);
  // Sends a notification frame to the user's sockets on this process.
  void push_notification(const std::string& user_id, const std::string& notification_json);

  size_t room_subscriptions() const;

 private:
  void tail_events();
  // Every partition's end offset of the events topic; nullopt (logged) when the log fails.
  std::optional<std::vector<log::Position>> events_ends();
  // The counsel_typing announcements ("<room>|<user>"), handed over by the ListenHub.
  void deliver_typing(const std::vector<std::string>& payloads);
  void deliver_to_room(const std::string& room_id, const std::string& frame,
                       const std::string& message_id, const std::string& skip_user);

  AppContext& app_;
  mutable std::mutex mutex_;
  std::map<std::string, std::set<std::shared_ptr<RoomSubscription>>> rooms_;
  std::multimap<std::string, std::weak_ptr<WebSocketConnection>> notification_watchers_;
  // While no room is watched the tail thread reads nothing (each booking's events would wake it
  // for a poll that delivers nothing). The first join after that hands it where to resume: the
  // log's ends, taken before the subscription is added, so nothing after the join is missed and
  // the backlog of the idle time is skipped. All three guarded by mutex_.
  bool tail_idle_ = false;
  std::optional<std::vector<log::Position>> resume_from_;
  std::condition_variable rooms_changed_;
  std::atomic<bool> running_{false};
  pg::StopSignal stop_;
  std::mutex tail_reader_mutex_;
  log::LogReader* tail_reader_ = nullptr;  // the tail thread's, for stop() to interrupt
  std::thread tail_thread_;
  std::unique_ptr<pg::ListenHub::Subscription> typing_;  // while started
};

// The notification relay's view of the hub.
class HubNotificationPusher final : public NotificationPusher {
 public:
  explicit HubNotificationPusher(RealtimeHub& hub) : hub_(hub) {}
  void push(const std::string& recipient_id, const std::string& notification_json) override {
    hub_.push_notification(recipient_id, notification_json);
  }

 private:
  RealtimeHub& hub_;
};

}  // namespace counsel::api
