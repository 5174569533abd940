#pragma once
// How a new notification reaches its recipient's live connections on this api process (the
// WebSocket GET /ws/notifications). The NotificationRelay of every api process calls it for
// every new notification, since the recipient may be connected to any of them; a process
// without a connection for the recipient simply has nothing to send.
#include <string>

namespace counsel::api {

class NotificationPusher {
 public:
  virtual ~NotificationPusher() = default;
  // `notification_json` is the object GET /api/v1/notifications lists
  // ({id, kind, subject_id, data, created_at, read}). Called from the relay's delivery thread:
  // queue the frame and return, never wait for a slow socket. A throw is recorded as a failed
  // in-app delivery.
  virtual void push(const std::string& recipient_id, const std::string& notification_json) = 0;
};

}  // namespace counsel::api
