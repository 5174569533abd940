#include "projections/consistency.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "infra/logging.hpp"
#include "infra/pg/listen_hub.hpp"
#include "infra/pg/stop_signal.hpp"

#include "infra/thread_name.hpp"
#include "projections/checkpoints.hpp"
#include "projections/projection.hpp"

namespace counsel::projections {
namespace {

class Wakeup final : public pqxx::notification_receiver {
 public:
  Wakeup(pqxx::connection_base& conn, const std::string& channel)
      : pqxx::notification_receiver(conn, channel) {}
  void operator()(const std::string&, int) override {}
};

}  // namespace

bool read_models_reached(pqxx::connection& conn, const std::vector<log::Position>& positions) {
  if (positions.empty()) return true;
  // Several events of one partition: only the highest ordinal matters.
  std::map<int32_t, int64_t> highest;
  for (const auto& p : positions) {
    auto [it, inserted] = highest.try_emplace(p.partition.value(), p.offset.value());
    it->second = std::max(it->second, p.offset.value());
  }
  static const std::vector<std::string> names = projection_names();
  std::vector<int32_t> partitions;
  for (const auto& [p, o] : highest) partitions.push_back(p);
  pqxx::read_transaction tx(conn);
  // Positions are event ordinals per partition (see commands::PartitionState), compared with
  // the number of events each projection has applied: equal to offsets on postgres, and
  // still right on Kafka, whose transaction markers take offsets of their own.
  const CheckpointMap checkpoints = load_event_counts(tx, names, partitions);
  for (const auto& [name, per_partition] : checkpoints) {
    for (const auto& [p, o] : highest) {
      if (per_partition.at(p) <= o) return false;
    }
  }
  return true;
}

bool wait_until_reached(pg::PgPool& pool, const std::vector<log::Position>& positions,
                        std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  if (positions.empty()) return true;
  const auto deadline = clock::now() + timeout;
  auto lease = pool.acquire(timeout);
  auto& conn = lease.connection();
  if (read_models_reached(conn, positions)) return true;
  // LISTEN before the re-check, so a commit in between still wakes us.
  Wakeup wakeup(conn, kProjectionChannel);
  while (true) {
    if (read_models_reached(conn, positions)) return true;
    const auto left =
        std::chrono::duration_cast<std::chrono::microseconds>(deadline - clock::now());
    if (left.count() <= 0) return false;
    const auto nap = std::min<std::chrono::microseconds>(left, std::chrono::milliseconds(50));
    conn.await_notification(0, static_cast<long>(nap.count()));
  }
}

}  // namespace counsel::projections

namespace counsel::projections {

struct ConsistencyWatcher::State {
  std::string conninfo;
  std::string own_origin;
  std::mutex mutex;
  // A request waiting in wait(), woken alone once the read models reach its positions: with
  // one condition variable for all, every load woke every waiting request (up to the worker
  // pool's 128), most of them only to sleep again. Shared, so that it can be woken after the
  // lock is released (a request woken while it is held would only block on it again), when
  // its request may already have returned.
  struct PendingWait {
    const std::vector<log::Position>* positions;
    std::condition_variable reached_cv;
    bool reached = false;
  };
  std::list<std::shared_ptr<PendingWait>> pending;  // guarded by mutex
  // partition -> events applied by the slowest projection.
  std::map<int32_t, int64_t> applied;
  bool fresh = false;  // `applied` was loaded at least once since start
  std::chrono::steady_clock::time_point loaded_at{};  // of the last successful load
  // projection.read_model_versions as of the last load (read after the checkpoints, so never
  // older than the changes the checkpoints include).
  std::map<std::string, uint64_t, std::less<>> versions;
  std::atomic<bool> running{false};
  std::atomic<uint64_t> loads{0};
  std::unique_ptr<pg::ListenHub::Subscription> listening;  // while started
  // Raised to stop (with running false) and to load at once (reload_soon()).
  pg::StopSignal wake;
  std::thread thread;

  bool reached(const std::vector<log::Position>& positions) const {
    for (const auto& p : positions) {
      auto it = applied.find(p.partition.value());
      if (it == applied.end() || it->second <= p.offset.value()) return false;
    }
    return true;
  }

  struct Loaded {
    std::map<int32_t, int64_t> applied;
    std::map<std::string, uint64_t, std::less<>> versions;
  };

  // One statement, no transaction around it: a load follows every projector commit, and
  // BEGIN, SET TRANSACTION and ROLLBACK around two statements were four more round trips each
  // time. The versions come from the same snapshot as the checkpoints, and a projector bumps
  // them in the transaction that moves its checkpoints, so they include at least every change
  // the checkpoints do.
  Loaded load(pqxx::connection& conn) {
    static const std::vector<std::string> names = projection_names();
    static const std::string names_literal = text_array_literal(names);
    Loaded loaded;
    pqxx::nontransaction tx(conn);
    const auto rows = tx.exec_prepared("consistency_load", names_literal);
    loads.fetch_add(1, std::memory_order_relaxed);
    for (const auto& row : rows) {
      if (row[0].is_null()) {
        // A projection without a row for the partition has applied nothing there.
        const bool all = row[2].as<int64_t>() == static_cast<int64_t>(names.size());
        loaded.applied[row[1].as<int32_t>()] = all ? row[3].as<int64_t>() : 0;
      } else {
        loaded.versions[row[0].as<std::string>()] = row[3].as<uint64_t>();
      }
    }
    return loaded;
  }

  void run() {
    while (running) {
      try {
        auto conn = pg::open_connection(conninfo);
        conn->prepare("consistency_load",
                      "SELECT NULL::text, partition, count(*), min(events_applied)"
                      " FROM projection.checkpoints WHERE projection = ANY($1::text[])"
                      " GROUP BY partition"
                      " UNION ALL SELECT projection, NULL::int, NULL::bigint, version"
                      " FROM projection.read_model_versions");
        while (running) {
          auto loaded = load(*conn);
          std::vector<std::shared_ptr<PendingWait>> woken;
          {
            std::lock_guard lock(mutex);
            applied = std::move(loaded.applied);
            versions = std::move(loaded.versions);
            fresh = true;
            loaded_at = std::chrono::steady_clock::now();
            for (const auto& w : pending) {
              if (w->reached || !reached(*w->positions)) continue;
              w->reached = true;
              woken.push_back(w);
            }
          }
          for (const auto& w : woken) w->reached_cv.notify_one();
          // Woken by a projector's commit (its NOTIFY through the process's ListenHub, or
          // reload_soon() from this process's own projector) or by the hub listening anew;
          // the timeout is a fallback for a missed NOTIFY. Re-armed before the next load,
          // which sees every commit that raised it; stop() clears `running` first.
          wake.sleep_for(std::chrono::milliseconds(100));
          if (running) wake.clear();
        }
      } catch (const std::exception& e) {
        {
          std::lock_guard lock(mutex);
          fresh = false;
        }
        logging::warn("consistency", std::string("watching projections failed: ") + e.what());
        // A reload_soon() must not turn this into a busy retry; a stop() that raced the
        // clear has cleared `running` first.
        wake.clear();
        if (running) wake.sleep_for(std::chrono::milliseconds(500));
      }
    }
  }
};

ConsistencyWatcher::ConsistencyWatcher(std::string conninfo, std::string own_origin)
    : state_(std::make_unique<State>()) {
  state_->conninfo = std::move(conninfo);
  state_->own_origin = std::move(own_origin);
}

ConsistencyWatcher::~ConsistencyWatcher() {
  stop();
}

void ConsistencyWatcher::start() {
  if (state_->running.exchange(true)) return;
  state_->wake.clear();
  // Announcements of this process's own projector alone wake nothing (see own_origin); the
  // hub listening anew (a reconnect) is a reason to load, as what came meanwhile is unknown.
  auto* state = state_.get();
  state_->listening = pg::ListenHub::shared_for(state_->conninfo)
                          ->subscribe(
                              kProjectionChannel,
                              [state](const std::vector<std::string>& payloads) {
                                for (const auto& payload : payloads) {
                                  if (state->own_origin.empty() || payload != state->own_origin) {
                                    state->wake.raise();
                                    return;
                                  }
                                }
                              },
                              [state] { state->wake.raise(); });
  state_->thread = std::thread([this] {
    name_this_thread("read-models");
    state_->run();
  });
}

void ConsistencyWatcher::stop() {
  state_->listening.reset();
  state_->running = false;
  state_->wake.raise();
  if (state_->thread.joinable()) state_->thread.join();
}

std::optional<uint64_t> ConsistencyWatcher::version(std::string_view projection) const {
  std::lock_guard lock(state_->mutex);
  // Loads come at least every 100 ms; a watcher that has not loaded for much longer is stuck
  // (a hung connection), and its versions can no longer be trusted.
  constexpr auto kStale = std::chrono::seconds(2);
  if (!state_->fresh || std::chrono::steady_clock::now() - state_->loaded_at > kStale)
    return std::nullopt;
  auto it = state_->versions.find(projection);
  return it == state_->versions.end() ? 0 : it->second;
}

void ConsistencyWatcher::reload_soon() {
  state_->wake.raise();
}

uint64_t ConsistencyWatcher::loads() const {
  return state_->loads.load(std::memory_order_relaxed);
}

bool ConsistencyWatcher::wait(const std::vector<log::Position>& positions,
                              std::chrono::milliseconds timeout) {
  if (positions.empty()) return true;
  std::unique_lock lock(state_->mutex);
  if (state_->fresh && state_->reached(positions)) return true;
  auto waiting = std::make_shared<State::PendingWait>();
  waiting->positions = &positions;
  // Off the list however the wait ends (the lock, declared first, is still held then): the
  // watcher reads `positions` through it.
  struct Unlisted {
    std::list<std::shared_ptr<State::PendingWait>>& pending;
    std::list<std::shared_ptr<State::PendingWait>>::iterator entry;
    ~Unlisted() { pending.erase(entry); }
  } unlisted{state_->pending, state_->pending.insert(state_->pending.end(), waiting)};
  return waiting->reached_cv.wait_for(lock, timeout, [&] { return waiting->reached; });
}

}  // namespace counsel::projections
