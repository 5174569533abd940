#include "infra/pg/listen_hub.hpp"

#include <pqxx/nontransaction>
#include <set>

#include "infra/logging.hpp"
#include "infra/pg/connection_pool.hpp"
#include "infra/pg/per_database.hpp"
#include "infra/thread_name.hpp"

namespace counsel::pg {
namespace {

constexpr auto kReconnectPause = std::chrono::milliseconds(200);
// A connection that only listens never learns that it died quietly (a dropped link without a
// reset): a query after this long without a notification does.
constexpr auto kKeepalive = std::chrono::seconds(5);

// A subscriber's failure is its own: the others, and the connection, go on.
template <class F>
void call_safely(const char* what, const std::string& channel, const F& callback) {
  try {
    callback();
  } catch (const std::exception& e) {
    logging::warn("listen",
                  std::string(what) + " of a " + channel + " subscriber failed: " + e.what());
  }
}

}  // namespace

// Collects one channel's payloads as pqxx delivers them; the hub hands them over after.
class ListenHub::ChannelReceiver final : public pqxx::notification_receiver {
 public:
  ChannelReceiver(pqxx::connection_base& conn, const std::string& channel)
      : pqxx::notification_receiver(conn, channel) {}
  void operator()(const std::string& payload, int) override { pending.push_back(payload); }
  std::vector<std::string> pending;
};

std::shared_ptr<ListenHub> ListenHub::shared_for(const std::string& conninfo) {
  return shared_per_database<ListenHub>(conninfo);
}

ListenHub::ListenHub(std::string conninfo) : conninfo_(std::move(conninfo)) {}

ListenHub::~ListenHub() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.raise();
  if (thread_.joinable()) thread_.join();
}

std::unique_ptr<ListenHub::Subscription> ListenHub::subscribe(std::string channel,
                                                              OnNotify on_notify,
                                                              OnListening on_listening) {
  // The handle first: shared_from_this() throws for a hub no shared_ptr owns, and then nothing
  // is registered without a handle to end it.
  auto self = shared_from_this();
  std::unique_ptr<Subscription> handle;
  {
    std::lock_guard lock(mutex_);
    const uint64_t id = next_id_++;
    handle.reset(new Subscription(std::move(self), id));
    auto s = std::make_shared<Subscriber>();
    s->channel = std::move(channel);
    s->on_notify = std::move(on_notify);
    s->on_listening = std::move(on_listening);
    subscribers_[id] = std::move(s);
    if (!thread_.joinable())
      thread_ = std::thread([this] {
        name_this_thread("pg-listen");
        run();
      });
  }
  wake_.raise();
  return handle;
}

ListenHub::Subscription::~Subscription() {
  hub_->unsubscribe(id_);
}

void ListenHub::unsubscribe(uint64_t id) {
  {
    std::lock_guard lock(mutex_);
    auto it = subscribers_.find(id);
    if (it != subscribers_.end()) {
      it->second->cancelled = true;
      subscribers_.erase(it);
    }
  }
  // A callback of this subscriber may be running on a snapshot taken before the erase: wait it
  // out, so none runs after the handle is gone.
  { std::lock_guard wait_for_callbacks(callbacks_mutex_); }
  wake_.raise();  // its channel may need no LISTEN any more
}

uint64_t ListenHub::connections() const {
  std::lock_guard lock(mutex_);
  return connections_;
}

void ListenHub::run() {
  bool warned = false;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    try {
      auto conn = open_connection(conninfo_);
      uint64_t connection = 0;
      {
        std::lock_guard lock(mutex_);
        connection = ++connections_;
      }
      if (warned) logging::info("listen", "listening for notifications again");
      warned = false;
      serve(*conn, connection);
      return;  // stopping
    } catch (const std::exception& e) {
      // Subscribers fall back to their own timeouts meanwhile, and look everything up again
      // (on_listening) once this is back.
      if (!warned) logging::warn("listen", std::string("listening failed: ") + e.what());
      warned = true;
      wake_.sleep_for(kReconnectPause);
      wake_.clear();
    }
  }
}

void ListenHub::serve(pqxx::connection& conn, uint64_t connection) {
  std::map<std::string, std::unique_ptr<ChannelReceiver>> receivers;
  while (true) {
    // Cleared before the subscriptions are read: a change after this raises it again.
    wake_.clear();
    std::vector<std::shared_ptr<Subscriber>> subscribers;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      for (const auto& [id, s] : subscribers_) subscribers.push_back(s);
    }
    // LISTEN (a receiver's constructor) what is newly wanted, UNLISTEN what is not any more.
    std::set<std::string> wanted;
    for (const auto& s : subscribers) wanted.insert(s->channel);
    std::erase_if(receivers, [&](const auto& r) { return !wanted.contains(r.first); });
    for (const auto& channel : wanted)
      if (!receivers.contains(channel))
        receivers[channel] = std::make_unique<ChannelReceiver>(conn, channel);
    {
      std::lock_guard callbacks(callbacks_mutex_);
      for (const auto& s : subscribers) {
        // Gone since the snapshot (its unsubscribe() waits for this lock only if it came
        // after this check): its callbacks may capture what no longer exists.
        if (s->cancelled || s->listening_on == connection) continue;
        s->listening_on = connection;
        if (s->on_listening) call_safely("on_listening", s->channel, s->on_listening);
      }
    }
    // Payloads may arrive with any reply (the LISTENs above, a keepalive): handed over whether
    // or not the wait below brings more.
    hand_over(receivers, connection);
    if (await_notification(
            conn, wake_, std::chrono::duration_cast<std::chrono::microseconds>(kKeepalive)) == 0 &&
        !wake_.raised())
      pqxx::nontransaction(conn).exec("SELECT 1");
    hand_over(receivers, connection);
  }
}

void ListenHub::hand_over(std::map<std::string, std::unique_ptr<ChannelReceiver>>& receivers,
                          uint64_t connection) {
  // To the subscribers of each channel as of now; one that unsubscribed since is skipped, one
  // that subscribed since had its on_listening or gets it next round (and looks then).
  std::lock_guard callbacks(callbacks_mutex_);
  for (auto& [channel, receiver] : receivers) {
    if (receiver->pending.empty()) continue;
    const auto payloads = std::move(receiver->pending);
    receiver->pending.clear();
    std::vector<std::shared_ptr<Subscriber>> current;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, s] : subscribers_)
        if (s->channel == channel && s->listening_on == connection) current.push_back(s);
    }
    for (const auto& s : current)
      if (!s->cancelled) call_safely("on_notify", channel, [&] { s->on_notify(payloads); });
  }
}

}  // namespace counsel::pg
