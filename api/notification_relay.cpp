#include "api/notification_relay.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <thread>

#include "api/notification_inbox.hpp"
#include "infra/logging.hpp"
#include "infra/pg/connection_pool.hpp"
#include "infra/pg/listen_hub.hpp"
#include "infra/pg/stop_signal.hpp"
#include "infra/thread_name.hpp"
#include "projections/projection.hpp"

namespace counsel::api {
namespace {

constexpr const char* kComponent = "notification-relay";
constexpr auto kReconnectPause = std::chrono::milliseconds(500);

}  // namespace

// ---- InAppChannel ----

void InAppChannel::set_pusher(std::shared_ptr<NotificationPusher> pusher) {
  std::lock_guard lock(mutex_);
  pusher_ = std::move(pusher);
}

notify::DeliveryResult InAppChannel::deliver(const notify::OutboundMessage& message) {
  std::shared_ptr<NotificationPusher> pusher;
  {
    std::lock_guard lock(mutex_);
    pusher = pusher_;
  }
  if (pusher) {
    try {
      pusher->push(message.user_id, message.payload_json);
    } catch (const std::exception& e) {
      // Retrying would not reach a socket that is gone; the notification stays in the list.
      return notify::DeliveryResult::give_up(std::string("pushing to live connections failed: ") +
                                             e.what());
    }
  }
  return notify::DeliveryResult::delivered();
}

// ---- NotificationRelay ----

struct NotificationRelay::State {
  std::string conninfo;
  crypto::SubjectKeyring& keyring;
  RelayOptions options;
  InAppChannel channel;

  std::atomic<bool> running{false};
  pg::StopSignal stop;
  // Announcements, through the process's ListenHub; the hub's thread only queues them.
  std::unique_ptr<pg::ListenHub::Subscription> listening;
  std::thread delivery_thread;

  std::mutex queue_mutex;
  std::condition_variable queue_changed;
  std::deque<std::string> queued;  // notification ids
  bool overflowing = false;        // warned about the current overflow

  State(std::string conninfo_, crypto::SubjectKeyring& keyring_, RelayOptions options_)
      : conninfo(std::move(conninfo_)), keyring(keyring_), options(options_) {}

  void enqueue(const std::vector<std::string>& payloads) {
    std::unique_lock lock(queue_mutex);
    for (const auto& payload : payloads) {
      // "<recipient id>:<notification id>"
      const auto colon = payload.find(':');
      if (colon == std::string::npos) continue;
      if (queued.size() >= options.max_queued) {
        if (!overflowing)
          logging::warn(kComponent,
                        "too many notifications waiting; dropping announcements "
                        "(they stay in the list, unpushed)");
        overflowing = true;
        continue;
      }
      overflowing = false;
      queued.push_back(payload.substr(colon + 1));
    }
    lock.unlock();  // the woken thread would only block on it
    queue_changed.notify_one();
  }

  std::vector<std::string> next_batch() {
    std::unique_lock lock(queue_mutex);
    queue_changed.wait_for(lock, std::chrono::milliseconds(200),
                           [this] { return !queued.empty() || !running; });
    std::vector<std::string> batch;
    while (!queued.empty() && batch.size() < options.batch_size) {
      batch.push_back(std::move(queued.front()));
      queued.pop_front();
    }
    return batch;
  }

  void deliver_loop() {
    std::unique_ptr<pqxx::connection> conn;
    while (running) {
      auto batch = next_batch();
      if (batch.empty()) continue;
      try {
        if (!conn || !conn->is_open()) conn = pg::open_connection(conninfo);
        relay(*conn, batch);
      } catch (const std::exception& e) {
        // The batch is dropped: its notifications stay in the list, and a GET records them.
        logging::warn(kComponent, "delivering " + std::to_string(batch.size()) +
                                      " notifications failed: " + e.what());
        conn.reset();
        stop.sleep_for(kReconnectPause);
      }
    }
  }

  size_t relay(pqxx::connection& conn, const std::vector<std::string>& ids) {
    const auto notifications = inbox::load(conn, ids);
    std::vector<inbox::InAppDelivery> deliveries;
    deliveries.reserve(notifications.size());
    for (const auto& n : notifications) {
      notify::OutboundMessage message;
      message.id = n.id;
      message.user_id = n.recipient_id;
      message.channel = std::string(notify::kInAppChannel);
      message.template_name = n.kind;
      message.payload_json = n.json;
      deliveries.push_back({&n, channel.deliver(message)});
      if (!deliveries.back().result.ok)
        logging::warn(kComponent, "notification " + n.id + " (" + n.kind +
                                      "): " + deliveries.back().result.error);
    }
    inbox::record_in_app_deliveries(conn, deliveries, keyring);
    return notifications.size();
  }
};

NotificationRelay::NotificationRelay(std::string conninfo, crypto::SubjectKeyring& keyring,
                                     RelayOptions options)
    : state_(std::make_unique<State>(std::move(conninfo), keyring, options)) {}

NotificationRelay::~NotificationRelay() {
  stop();
}

void NotificationRelay::set_pusher(std::shared_ptr<NotificationPusher> pusher) {
  state_->channel.set_pusher(std::move(pusher));
}

void NotificationRelay::start() {
  if (state_->running.exchange(true)) return;
  state_->stop.clear();
  auto* state = state_.get();
  state_->listening = pg::ListenHub::shared_for(state_->conninfo)
                          ->subscribe(projections::kNotificationsChannel,
                                      [state](const std::vector<std::string>& payloads) {
                                        state->enqueue(payloads);
                                      });
  state_->delivery_thread = std::thread([this] {
    name_this_thread("notify-relay");
    state_->deliver_loop();
  });
}

void NotificationRelay::stop() {
  state_->listening.reset();
  state_->running = false;
  state_->stop.raise();
  state_->queue_changed.notify_all();
  if (state_->delivery_thread.joinable()) state_->delivery_thread.join();
}

size_t NotificationRelay::relay(pqxx::connection& conn,
                                const std::vector<std::string>& notification_ids) {
  return state_->relay(conn, notification_ids);
}

}  // namespace counsel::api
