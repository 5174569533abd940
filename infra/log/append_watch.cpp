#include "infra/log/append_watch.hpp"

#include <algorithm>
#include <charconv>
#include <pqxx/pqxx>

namespace counsel::log {
namespace {

constexpr const char* kChannel = "counsel_log";

size_t topic_index(Topic t) {
  return static_cast<size_t>(static_cast<int>(t) - static_cast<int>(kAllTopics[0]));
}
constexpr size_t kTopics = std::size(kAllTopics);

bool parse_number(std::string_view text, int64_t& out) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc{} && end == text.data() + text.size() && out >= 0;
}

}  // namespace

std::string announcement_key(Topic topic, PartitionId partition) {
  return std::to_string(static_cast<int>(topic)) + ":" + std::to_string(partition.value());
}

std::string announcement_payload(const AppendedEnd& e) {
  return announcement_key(e.topic, e.partition) + ":" + std::to_string(e.end.value());
}

std::optional<AppendedEnd> parse_announcement(const std::string& payload, bool* has_end) {
  const std::string_view text(payload);
  const auto first = text.find(':');
  if (first == std::string_view::npos) return std::nullopt;
  const auto second = text.find(':', first + 1);
  int64_t topic = 0, partition = 0, end = 0;
  if (!parse_number(text.substr(0, first), topic)) return std::nullopt;
  if (!parse_number(text.substr(first + 1, second == std::string_view::npos ? std::string_view::npos
                                                                            : second - first - 1),
                    partition))
    return std::nullopt;
  const bool with_end = second != std::string_view::npos;
  if (with_end && !parse_number(text.substr(second + 1), end)) return std::nullopt;
  bool known_topic = false;
  for (auto t : kAllTopics) known_topic = known_topic || static_cast<int>(t) == topic;
  if (!known_topic || partition > INT32_MAX) return std::nullopt;
  if (has_end != nullptr) *has_end = with_end;
  return AppendedEnd{static_cast<Topic>(topic), PartitionId{static_cast<int32_t>(partition)},
                     Offset{end}};
}

struct AppendWatch::Waiter {
  Topic topic;
  std::condition_variable changed;
  bool signalled = false;
  bool interrupted = false;
};

struct AppendWatch::Shared {
  explicit Shared(int partition_count) {
    // PostgresLog refuses a count below 1 after this is made.
    const auto partitions = static_cast<size_t>(std::max(partition_count, 0));
    for (auto& ends : ends_by_topic) ends.assign(partitions, 0);
  }

  // Applies announcements and wakes the waiters of each topic that moved.
  void apply(const std::vector<AppendedEnd>& ends, const std::vector<Topic>& without_end) {
    std::vector<std::shared_ptr<Waiter>> woken;
    std::unique_lock lock(mutex);
    bool moved[kTopics] = {};
    for (const auto& e : ends) {
      auto& topic_ends = ends_by_topic[topic_index(e.topic)];
      const auto p = static_cast<size_t>(e.partition.value());
      if (p >= topic_ends.size() || topic_ends[p] >= e.end.value()) continue;
      topic_ends[p] = e.end.value();
      moved[topic_index(e.topic)] = true;
    }
    for (auto t : without_end) {
      ++generations[topic_index(t)];
      moved[topic_index(t)] = true;
    }
    for (const auto& w : waiters) {
      if (!moved[topic_index(w->topic)]) continue;
      w->signalled = true;
      woken.push_back(w);
    }
    lock.unlock();
    wake(woken);
  }

  // The listening connection was (re)opened: whatever came meanwhile is unknown.
  void reset() {
    std::vector<std::shared_ptr<Waiter>> woken;
    {
      std::lock_guard lock(mutex);
      for (auto& g : generations) ++g;
      for (const auto& w : waiters) {
        w->signalled = true;
        woken.push_back(w);
      }
    }
    wake(woken);
  }

  // Without the lock: a reader woken while it is held would only block on it again (two
  // context switches instead of one, after every append).
  static void wake(const std::vector<std::shared_ptr<Waiter>>& woken) {
    for (const auto& w : woken) w->changed.notify_one();
  }

  std::mutex mutex;
  std::vector<int64_t> ends_by_topic[kTopics];
  uint64_t generations[kTopics] = {};
  std::list<std::shared_ptr<Waiter>> waiters;
};

AppendWatch::AppendWatch(std::string conninfo, int partition_count)
    : conninfo_(std::move(conninfo)), shared_(std::make_shared<Shared>(partition_count)) {}

AppendWatch::~AppendWatch() {
  listening_.reset();
}

std::unique_ptr<AppendWatch::Subscription> AppendWatch::subscribe(Topic topic) {
  std::call_once(started_, [this] {
    // The callbacks hold the shared state, not the watch: a late one finds it still there.
    auto on_notify = [shared = shared_](const std::vector<std::string>& payloads) {
      std::vector<AppendedEnd> ends;
      std::vector<Topic> without_end;
      for (const auto& payload : payloads) {
        bool has_end = false;
        auto parsed = parse_announcement(payload, &has_end);
        if (!parsed) continue;
        if (has_end)
          ends.push_back(*parsed);
        else
          without_end.push_back(parsed->topic);
      }
      shared->apply(ends, without_end);
    };
    // A (re)opened connection: what came meanwhile is unknown, so the readers read everything.
    auto on_listening = [shared = shared_] { shared->reset(); };
    listening_ = pg::ListenHub::shared_for(conninfo_)->subscribe(kChannel, std::move(on_notify),
                                                                 std::move(on_listening));
  });
  return std::unique_ptr<Subscription>(new Subscription(shared_, topic));
}

void AppendWatch::appended(const std::vector<AppendedEnd>& ends) {
  shared_->apply(ends, {});
}

AppendWatch::Subscription::Subscription(std::shared_ptr<Shared> shared, Topic topic)
    : shared_(std::move(shared)) {
  std::lock_guard lock(shared_->mutex);
  waiter_ = std::make_shared<Waiter>();
  waiter_->topic = topic;
  entry_ = shared_->waiters.insert(shared_->waiters.end(), waiter_);
}

AppendWatch::Subscription::~Subscription() {
  std::lock_guard lock(shared_->mutex);
  shared_->waiters.erase(entry_);
}

uint64_t AppendWatch::Subscription::snapshot(std::vector<int64_t>& ends) const {
  std::lock_guard lock(shared_->mutex);
  const auto t = topic_index(waiter_->topic);
  ends = shared_->ends_by_topic[t];
  return shared_->generations[t];
}

AppendWatch::Subscription::Waited AppendWatch::Subscription::wait(Clock::time_point until) {
  std::unique_lock lock(shared_->mutex);
  Waiter& w = *waiter_;
  while (true) {
    if (w.interrupted) {
      w.interrupted = false;
      return Waited::interrupted;
    }
    if (w.signalled) {
      w.signalled = false;
      return Waited::woken;
    }
    if (w.changed.wait_until(lock, until) == std::cv_status::timeout && !w.signalled &&
        !w.interrupted)
      return Waited::timed_out;
  }
}

void AppendWatch::Subscription::interrupt() noexcept {
  // The copy keeps the waiter alive should the subscription go away once the lock is free.
  std::shared_ptr<Waiter> waiter;
  {
    std::lock_guard lock(shared_->mutex);
    waiter_->interrupted = true;
    waiter = waiter_;
  }
  waiter->changed.notify_one();
}

void AppendWatch::Subscription::follow(Topic topic) {
  std::lock_guard lock(shared_->mutex);
  waiter_->topic = topic;
  waiter_->signalled = true;  // the new topic's ends are news to this reader
}

void ReadSchedule::read_again(PartitionId p) {
  const auto i = static_cast<size_t>(p.value());
  if (i < caught_up_.size()) caught_up_[i] = 0;
}

std::vector<Position> ReadSchedule::due(const std::vector<Position>& all,
                                        const AppendWatch::Subscription& watch,
                                        Clock::time_point now) {
  const uint64_t generation = watch.snapshot(ends_);
  if (generation != generation_ || now - last_full_read_ >= kFullReadEvery) full_due_ = true;
  generation_ = generation;
  if (full_due_) {
    full_due_ = false;
    last_full_read_ = now;
    return all;
  }
  std::vector<Position> out;
  for (const auto& p : all) {
    const auto i = static_cast<size_t>(p.partition.value());
    if (i >= caught_up_.size() || !caught_up_[i] || ends_[i] > p.offset.value()) out.push_back(p);
  }
  return out;
}

void ReadSchedule::after_read(const std::vector<Position>& read, size_t returned, size_t limit) {
  for (const auto& p : read) {
    const auto i = static_cast<size_t>(p.partition.value());
    if (i < caught_up_.size()) caught_up_[i] = returned < limit ? 1 : 0;
  }
}

}  // namespace counsel::log
