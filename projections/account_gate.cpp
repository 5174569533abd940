#include "projections/account_gate.hpp"

#include <atomic>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "infra/logging.hpp"
#include "infra/pg/connection_pool.hpp"
#include "infra/pg/listen_hub.hpp"
#include "infra/pg/stop_signal.hpp"
#include "infra/thread_name.hpp"
#include "projections/projection.hpp"

namespace counsel::projections {
namespace {

struct UserRow {
  std::string user_id;
  bool suspended = false;
  std::optional<Timestamp> suspended_at;
  bool staff_with_two_factor = false;
};

UserRow read_row(const pqxx::row& row) {
  UserRow r;
  r.user_id = row[0].c_str();
  r.suspended = row[1].as<bool>();
  if (!row[2].is_null())
    r.suspended_at = Timestamp{std::chrono::milliseconds{row[2].as<int64_t>()}};
  r.staff_with_two_factor = row[3].as<bool>();
  return r;
}

const char* kColumns =
    "SELECT user_id::text, status IN ('suspended', 'erased'),"
    " (extract(epoch FROM suspended_at) * 1000)::int8,"
    " role IN ('admin', 'compliance') AND two_factor_enabled FROM read.users";

}  // namespace

struct AccountGate::State {
  std::string conninfo;
  mutable std::shared_mutex mutex;
  // Users ever suspended: user -> (suspended now, latest suspension time).
  std::unordered_map<std::string, std::pair<bool, Timestamp>> suspensions;
  std::unordered_set<std::string> staff_with_two_factor;
  std::atomic<bool> running{false};
  pg::StopSignal stop;  // raised on stop, and when there is something to load
  std::thread thread;
  // Announced through the process's ListenHub: the users to re-read, and whether to re-read
  // everyone (the hub listens anew: what was announced meanwhile is unknown).
  std::mutex pending_mutex;
  std::vector<std::string> pending;
  std::atomic<bool> reload{false};
  std::unique_ptr<pg::ListenHub::Subscription> listening;

  void apply(const UserRow& r) {
    std::unique_lock lock(mutex);
    if (r.suspended_at) {
      suspensions[r.user_id] = {r.suspended, *r.suspended_at};
    } else {
      suspensions.erase(r.user_id);
    }
    if (r.staff_with_two_factor) {
      staff_with_two_factor.insert(r.user_id);
    } else {
      staff_with_two_factor.erase(r.user_id);
    }
  }

  void load_all(pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec(std::string(kColumns) +
                        " WHERE suspended_at IS NOT NULL OR (role IN ('admin', 'compliance')"
                        " AND two_factor_enabled)");
    decltype(suspensions) s;
    decltype(staff_with_two_factor) staff;
    for (const auto& row : rows) {
      auto r = read_row(row);
      if (r.suspended_at) s[r.user_id] = {r.suspended, *r.suspended_at};
      if (r.staff_with_two_factor) staff.insert(r.user_id);
    }
    std::unique_lock lock(mutex);
    suspensions = std::move(s);
    staff_with_two_factor = std::move(staff);
  }

  void load_one(pqxx::connection& conn, const std::string& user_id) {
    // Payloads come from our own projection, but a malformed one must not throw in SQL.
    if (!Uuid::parse(user_id)) return;
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec_params(std::string(kColumns) + " WHERE user_id = $1::uuid", user_id);
    tx.commit();
    if (rows.empty()) return;
    apply(read_row(rows[0]));
  }

  // The hub only queues the announced users; this thread reads them on its own connection.
  void run() {
    std::unique_ptr<pqxx::connection> conn;
    auto next_full_load = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (running) {
      try {
        if (!conn) conn = pg::open_connection(conninfo);
        if (reload.exchange(false)) {
          load_all(*conn);
          next_full_load = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        }
        std::vector<std::string> users;
        {
          std::lock_guard lock(pending_mutex);
          users.swap(pending);
        }
        for (const auto& u : users) load_one(*conn, u);
        // A NOTIFY lost with a dropped connection is made up for by the reload when the hub
        // listens again; this periodic one bounds any other drift.
        if (std::chrono::steady_clock::now() > next_full_load) {
          load_all(*conn);
          next_full_load = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        }
        stop.sleep_for(std::chrono::seconds(1));
        if (running) stop.clear();
      } catch (const std::exception& e) {
        logging::warn("account-gate", std::string("following account status failed: ") + e.what());
        conn.reset();
        reload = true;  // what failed to load is read again with everyone
        // A raise meanwhile (an announcement) must not turn the pause into a busy retry; a
        // stop() that raced the clear has cleared `running` first.
        if (running) stop.clear();
        stop.sleep_for(std::chrono::milliseconds(500));
      }
    }
  }
};

AccountGate::AccountGate(std::string conninfo) : state_(std::make_unique<State>()) {
  state_->conninfo = std::move(conninfo);
}

AccountGate::~AccountGate() {
  stop();
}

void AccountGate::start() {
  if (state_->running.exchange(true)) return;
  state_->stop.clear();
  {
    auto conn = pg::open_connection(state_->conninfo);
    ensure_read_models(*conn);  // an api may start before any projector created them
    state_->load_all(*conn);
  }
  auto* state = state_.get();
  state_->listening =
      pg::ListenHub::shared_for(state_->conninfo)
          ->subscribe(
              kAccountStatusChannel,
              [state](const std::vector<std::string>& users) {
                {
                  std::lock_guard lock(state->pending_mutex);
                  state->pending.insert(state->pending.end(), users.begin(), users.end());
                }
                state->stop.raise();
              },
              [state] {
                state->reload = true;
                state->stop.raise();
              });
  state_->thread = std::thread([this] {
    name_this_thread("account-gate");
    state_->run();
  });
}

void AccountGate::stop() {
  state_->listening.reset();
  state_->running = false;
  state_->stop.raise();
  if (state_->thread.joinable()) state_->thread.join();
}

AccessVerdict AccountGate::check(const std::string& user_id, Role role,
                                 Timestamp token_issued_at) const {
  std::shared_lock lock(state_->mutex);
  if (auto it = state_->suspensions.find(user_id); it != state_->suspensions.end()) {
    if (it->second.first) return AccessVerdict::suspended;
    // JWT iat has whole seconds: compare at that precision, so a token issued in the second
    // of the suspension counts as older.
    auto suspended_second = std::chrono::floor<std::chrono::seconds>(it->second.second);
    if (token_issued_at <= suspended_second) return AccessVerdict::revoked;
  }
  if ((role == Role::admin || role == Role::compliance) &&
      !state_->staff_with_two_factor.contains(user_id))
    return AccessVerdict::two_factor_setup_required;
  return AccessVerdict::allowed;
}

void AccountGate::refresh(pqxx::connection& conn, const std::string& user_id) {
  state_->load_one(conn, user_id);
}

}  // namespace counsel::projections
