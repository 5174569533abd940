#include "api/realtime_hub.hpp"

#include <pqxx/pqxx>

#include <algorithm>

#include "api/chat_service.hpp"
#include "domain/events/envelope.hpp"
#include "domain/json.hpp"
#include "infra/logging.hpp"
#include "infra/pg/connection_pool.hpp"
#include "infra/thread_name.hpp"

namespace counsel::api {

namespace {

constexpr const char* kTypingChannel = "counsel_typing";

std::string message_id_of(const std::string& frame) {
  auto doc = json::parse(frame, nullptr, 8);
  if (!doc || !doc->IsObject()) return "";
  return std::string(json::get_string(*doc, "id").value_or(""));
}

std::string typing_frame(const std::string& room_id, const std::string& user_id) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "type");
  json::write_string(w, "typing");
  json::key(w, "room_id");
  json::write_string(w, room_id);
  json::key(w, "user_id");
  json::write_string(w, user_id);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace

// While `catching_up`, live frames wait in `held` so the backlog goes out first and nothing is
// sent twice.
struct RealtimeHub::RoomSubscription {
  std::string room_id;
  std::string user_id;
  std::weak_ptr<WebSocketConnection> conn;
  std::mutex mutex;
  bool catching_up = false;
  std::vector<std::pair<std::string, std::string>> held;  // (message id, frame)
  std::set<std::string> sent_in_backlog;

  void send(const std::string& frame, const std::string& message_id) {
    std::lock_guard lock(mutex);
    if (catching_up) {
      held.emplace_back(message_id, frame);
      return;
    }
    if (!message_id.empty() && sent_in_backlog.contains(message_id)) return;
    if (auto c = conn.lock()) c->send_text(frame);
  }
};

RealtimeHub::RealtimeHub(AppContext& app) : app_(app) {}

RealtimeHub::~RealtimeHub() {
  stop();
}

void RealtimeHub::start() {
  if (running_.exchange(true)) return;
  stop_.clear();
  tail_thread_ = std::thread([this] {
    name_this_thread("realtime-tail");
    tail_events();
  });
  // Typing is ephemeral (never an event): what was sent while the hub reconnected is gone.
  typing_ = pg::ListenHub::shared_for(app_.config.db)
                ->subscribe(kTypingChannel, [this](const std::vector<std::string>& payloads) {
                  deliver_typing(payloads);
                });
}

void RealtimeHub::stop() {
  typing_.reset();  // first: its callback takes mutex_
  {
    std::lock_guard lock(mutex_);  // the idle tail checks running_ under it
    running_ = false;
  }
  rooms_changed_.notify_all();
  stop_.raise();
  {
    std::lock_guard lock(tail_reader_mutex_);
    if (tail_reader_) tail_reader_->interrupt();
  }
  if (tail_thread_.joinable()) tail_thread_.join();
}

std::shared_ptr<RealtimeHub::RoomSubscription> RealtimeHub::join_room(
    const std::string& room_id, const std::string& user_id,
    const std::shared_ptr<WebSocketConnection>& conn, const std::string& after_message_id,
    const std::function<std::vector<std::string>()>& backlog) {
  auto sub = std::make_shared<RoomSubscription>();
  sub->room_id = room_id;
  sub->user_id = user_id;
  sub->conn = conn;
  sub->catching_up = !after_message_id.empty();
  bool first_for_idle_tail = false;
  {
    std::lock_guard lock(mutex_);
    first_for_idle_tail = tail_idle_ && rooms_.empty();
  }
  // The ends before the subscription: whatever is appended after it is at or past them. Only
  // the first joins of an idle tail read them (16 round trips); later ones would not be used.
  std::optional<std::vector<log::Position>> ends;
  if (first_for_idle_tail) ends = events_ends();
  {
    std::lock_guard lock(mutex_);
    // Only while no subscription is in yet, or others already set ends: a subscription added
    // without ends (the tail looked active, or the ends failed) needs the tail to go on from
    // where it stopped, and later ends would skip what was appended after it.
    if (ends && tail_idle_ && (rooms_.empty() || resume_from_)) {
      if (!resume_from_) {
        resume_from_ = std::move(*ends);
      } else {
        // Several first joins at once: the earliest ends are before every one of them.
        for (size_t i = 0; i < resume_from_->size() && i < ends->size(); ++i)
          if ((*ends)[i].offset < (*resume_from_)[i].offset)
            (*resume_from_)[i].offset = (*ends)[i].offset;
      }
    }
    rooms_[room_id].insert(sub);
  }
  rooms_changed_.notify_all();
  if (!sub->catching_up) return sub;
  // Subscribed first, then the backlog is read: a message committed in between is either in
  // the backlog or held, never lost.
  auto frames = backlog();
  std::lock_guard lock(sub->mutex);
  for (auto& frame : frames) {
    sub->sent_in_backlog.insert(message_id_of(frame));
    conn->send_text(std::move(frame));
  }
  for (auto& [id, frame] : sub->held)
    if (id.empty() || !sub->sent_in_backlog.contains(id)) conn->send_text(frame);
  sub->held.clear();
  sub->catching_up = false;
  return sub;
}

void RealtimeHub::leave_room(const std::shared_ptr<RoomSubscription>& subscription) {
  if (!subscription) return;
  std::lock_guard lock(mutex_);
  auto it = rooms_.find(subscription->room_id);
  if (it == rooms_.end()) return;
  it->second.erase(subscription);
  if (it->second.empty()) rooms_.erase(it);
  // Ends a join set for an idle tail that has not woken yet are stale once nobody watches.
  if (rooms_.empty() && tail_idle_) resume_from_.reset();
}

void RealtimeHub::typing(const std::string& room_id, const std::string& user_id) {
  try {
    auto lease = app_.pool->acquire(std::chrono::milliseconds(1000));
    pqxx::nontransaction tx(lease.connection());
    tx.exec_params("SELECT pg_notify($1, $2)", std::string(kTypingChannel),
                   room_id + "|" + user_id);
  } catch (const std::exception& e) {
    // Ephemeral by design: a lost typing indicator is harmless.
    logging::warn("realtime", std::string("typing indicator not sent: ") + e.what());
  }
}

void RealtimeHub::watch_notifications(const std::string& user_id,
                                      const std::shared_ptr<WebSocketConnection>& conn) {
  std::lock_guard lock(mutex_);
  notification_watchers_.emplace(user_id, conn);
}

void RealtimeHub::unwatch_notifications(const std::string& user_id,
                                        const std::shared_ptr<WebSocketConnection>& conn) {
  std::lock_guard lock(mutex_);
  auto [first, last] = notification_watchers_.equal_range(user_id);
  for (auto it = first; it != last;) {
    auto held = it->second.lock();
    if (!held || held == conn) {
      it = notification_watchers_.erase(it);
    } else {
      ++it;
    }
  }
}

void RealtimeHub::push_notification(const std::string& user_id,
                                    const std::string& notification_json) {
  std::vector<std::shared_ptr<WebSocketConnection>> targets;
  {
    std::lock_guard lock(mutex_);
    auto [first, last] = notification_watchers_.equal_range(user_id);
    for (auto it = first; it != last; ++it)
      if (auto c = it->second.lock()) targets.push_back(std::move(c));
  }
  if (targets.empty()) return;
  const std::string frame = R"({"type":"notification","notification":)" + notification_json + "}";
  for (auto& c : targets) c->send_text(frame);
}

size_t RealtimeHub::room_subscriptions() const {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (auto& [room, subs] : rooms_) n += subs.size();
  return n;
}

void RealtimeHub::deliver_to_room(const std::string& room_id, const std::string& frame,
                                  const std::string& message_id, const std::string& skip_user) {
  std::vector<std::shared_ptr<RoomSubscription>> subs;
  {
    std::lock_guard lock(mutex_);
    auto it = rooms_.find(room_id);
    if (it == rooms_.end()) return;
    subs.assign(it->second.begin(), it->second.end());
  }
  for (auto& sub : subs)
    if (skip_user.empty() || sub->user_id != skip_user) sub->send(frame, message_id);
}

std::optional<std::vector<log::Position>> RealtimeHub::events_ends() {
  try {
    auto ends = log::end_positions(*app_.log, log::Topic::events);
    if (!ends) throw std::runtime_error(ends.error().message);
    return std::move(*ends);
  } catch (const std::exception& e) {
    // The tail then resumes where it stopped: a backlog to read through, nothing missed.
    logging::warn("realtime", std::string("cannot read the events log's ends: ") + e.what());
    return std::nullopt;
  }
}

void RealtimeHub::tail_events() {
  // Where the tail has read to, per partition: kept here because the reader is dropped while
  // the tail idles (held, it would be woken by every booking's events for nothing, and on
  // Kafka it keeps a consumer).
  std::vector<log::Position> read_to;
  while (running_ && read_to.empty()) {
    if (auto ends = events_ends()) {
      read_to = std::move(*ends);
    } else {
      stop_.sleep_for(std::chrono::milliseconds(500));
    }
  }
  std::unique_ptr<log::LogReader> reader;
  auto drop_reader = [&] {
    {
      std::lock_guard lock(tail_reader_mutex_);
      tail_reader_ = nullptr;  // before the reader goes
    }
    reader.reset();
  };
  while (running_) {
    std::optional<std::vector<log::Position>> resume;
    {
      std::unique_lock lock(mutex_);
      if (rooms_.empty()) {
        tail_idle_ = true;
        lock.unlock();
        drop_reader();
        lock.lock();
        rooms_changed_.wait(lock, [this] { return !rooms_.empty() || !running_; });
        tail_idle_ = false;
        resume = std::exchange(resume_from_, std::nullopt);
      }
    }
    if (!running_) break;
    // Ends from a join skip the idle time's backlog; without them, on from where it stopped.
    // Either way nothing appended after a join is missed.
    if (resume)
      for (size_t p = 0; p < read_to.size() && p < resume->size(); ++p)
        read_to[p].offset = std::max(read_to[p].offset, (*resume)[p].offset);
    if (!reader) {
      try {
        reader = app_.log->reader();
        reader->assign(log::Topic::events, read_to);
        std::lock_guard lock(tail_reader_mutex_);
        tail_reader_ = reader.get();
      } catch (const std::exception& e) {
        logging::warn("realtime", std::string("cannot follow the events log: ") + e.what());
        reader.reset();
        stop_.sleep_for(std::chrono::milliseconds(500));
        continue;
      }
    }
    auto batch = reader->poll(512, std::chrono::milliseconds(200));
    if (!batch) {
      logging::warn("realtime", "reading events failed: " + batch.error().message);
      stop_.sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    for (const auto& record : *batch) {
      const auto p = static_cast<size_t>(record.partition.value());
      if (p < read_to.size())
        read_to[p].offset = std::max(read_to[p].offset, log::Offset{record.offset.value() + 1});
      // Cheap pre-filter: only room streams matter, and only rooms someone here watches.
      if (!record.key.starts_with("room-")) continue;
      const std::string room_id = record.key.substr(5);
      {
        std::lock_guard lock(mutex_);
        if (!rooms_.contains(room_id)) continue;
      }
      auto envelope = decode_event(record.value);
      if (!envelope) continue;
      auto frame = chat::frame_from_event(app_, *envelope);
      if (!frame) continue;
      deliver_to_room(room_id, *frame,
                      envelope->type == "chat.message_sent" ? message_id_of(*frame) : "", "");
    }
  }
  drop_reader();
}

void RealtimeHub::deliver_typing(const std::vector<std::string>& payloads) {
  for (const auto& p : payloads) {
    auto bar = p.find('|');
    if (bar == std::string::npos) continue;
    const std::string room = p.substr(0, bar), user = p.substr(bar + 1);
    deliver_to_room(room, typing_frame(room, user), "", user);
  }
}

}  // namespace counsel::api
