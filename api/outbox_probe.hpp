#pragma once
// Notification outbox metrics, kept out of the dispatcher's logic: delivery attempts by channel
// and outcome (counsel_outbox_deliveries_total) and the messages still waiting
// (counsel_outbox_pending_messages; a value that keeps growing means nothing is delivering).
#include <cstdint>
#include <memory>
#include <string_view>

namespace prometheus {
class Registry;
}

namespace counsel::api::notify {

class OutboxProbe {
 public:
  // Registers its families in `registry` (the process-wide one by default).
  OutboxProbe();
  explicit OutboxProbe(prometheus::Registry& registry);
  ~OutboxProbe();
  OutboxProbe(const OutboxProbe&) = delete;
  OutboxProbe& operator=(const OutboxProbe&) = delete;

  // outcome: "delivered" | "failed" (to be retried) | "gave_up"
  void attempt(std::string_view channel, std::string_view outcome);
  // Undelivered messages that may still be delivered, over every channel.
  void pending(int64_t count);

 private:
  struct Families;
  std::unique_ptr<Families> families_;
};

}  // namespace counsel::api::notify
