#pragma once
// One LISTEN connection per process and database, for every channel the process's parts follow.
//
// PostgreSQL signals every listening backend of a database at each notifying commit, whatever
// the channels (async.c, SignalBackends), and each one wakes to read the notification queue.
// With the log's append watch, the consistency watcher, the notification relay, the outbox
// dispatcher, the account gate, the keyring's erasure follower and the chat's typing channel
// each on a connection of its own, every NOTIFY woke seven backends (about 3% of a core each
// at 300 bookings/s, on this kind of machine where a wake-up is dear). Here it wakes one.
//
// A subscriber names a channel and gives two callbacks, both run on the hub's thread (keep them
// short, and make no query on the hub's connection):
// - on_listening(): the channel is LISTENed on a new connection (the first, or one after a
//   reconnect), before any of its notifications are handed over. Whatever was announced while
//   nobody listened must be looked up again now: the "LISTEN, then load" of every follower.
// - on_notify(payloads): the payloads of the channel's notifications, in arrival order, several
//   at a time.
// No callback runs once the subscription's handle is destroyed; destroy it from another thread
// than the hub's (that is, never from inside a callback).
#include <pqxx/pqxx>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "infra/pg/stop_signal.hpp"

namespace counsel::pg {

class ListenHub : public std::enable_shared_from_this<ListenHub> {
 public:
  using OnNotify = std::function<void(const std::vector<std::string>& payloads)>;
  using OnListening = std::function<void()>;

  // The hub this process's parts share for `conninfo` (made on first use, kept while one of
  // them holds it).
  static std::shared_ptr<ListenHub> shared_for(const std::string& conninfo);

  // Always owned by a shared_ptr (make_shared or shared_for): subscriptions hold it.
  explicit ListenHub(std::string conninfo);
  ~ListenHub();
  ListenHub(const ListenHub&) = delete;
  ListenHub& operator=(const ListenHub&) = delete;

  class Subscription {
   public:
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

   private:
    friend class ListenHub;
    Subscription(std::shared_ptr<ListenHub> hub, uint64_t id) : hub_(std::move(hub)), id_(id) {}
    std::shared_ptr<ListenHub> hub_;
    uint64_t id_;
  };

  // Starts the hub's thread on first use. `channel` is any PostgreSQL identifier.
  std::unique_ptr<Subscription> subscribe(std::string channel, OnNotify on_notify,
                                          OnListening on_listening = {});

  // Connections made so far (a test's view of reconnects).
  uint64_t connections() const;

 private:
  struct Subscriber {
    std::string channel;
    OnNotify on_notify;
    OnListening on_listening;
    uint64_t listening_on = 0;  // the connection on_listening was last called for (hub thread)
    // Set by unsubscribe() under mutex_, read by the hub thread under callbacks_mutex_ just
    // before each call: a subscriber of an earlier snapshot that is gone is not called.
    std::atomic<bool> cancelled{false};
  };

  void unsubscribe(uint64_t id);
  void run();
  void serve(pqxx::connection& conn, uint64_t connection);
  // A channel's LISTEN on the hub's connection, with what arrived for it (listen_hub.cpp).
  class ChannelReceiver;
  // Hands what the receivers collected to the channels' subscribers.
  void hand_over(std::map<std::string, std::unique_ptr<ChannelReceiver>>& receivers,
                 uint64_t connection);

  const std::string conninfo_;
  mutable std::mutex mutex_;  // guards subscribers_, next_id_, stopping_, connections_
  std::map<uint64_t, std::shared_ptr<Subscriber>> subscribers_;
  uint64_t next_id_ = 1;
  uint64_t connections_ = 0;
  bool stopping_ = false;
  // Held while a callback runs: unsubscribe() takes it, so no callback outlives its handle.
  std::mutex callbacks_mutex_;
  StopSignal wake_;  // raised on stop and whenever the subscriptions change
  std::thread thread_;
};

}  // namespace counsel::pg
