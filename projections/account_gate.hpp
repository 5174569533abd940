#pragma once
// Per-request account checks without a database round trip: which users are suspended (and
// since when) and which staff accounts have two-factor enabled. One per api process; it loads
// both sets from the users read model at start and then follows the users projection's
// NOTIFY on counsel_account_status, so a suspension reaches every api process within
// milliseconds of its projection commit. It fails closed for staff: an admin or compliance
// account it has not seen with two-factor enabled is told to set it up.
#include <pqxx/pqxx>

#include <memory>
#include <string>

#include "domain/ids.hpp"
#include "domain/time.hpp"

namespace counsel::projections {

enum class AccessVerdict {
  allowed,
  suspended,                 // the account is suspended now
  revoked,                   // the token predates the account's latest suspension
  two_factor_setup_required  // admin or compliance without two-factor yet
};

class AccountGate {
 public:
  explicit AccountGate(std::string conninfo);
  ~AccountGate();
  AccountGate(const AccountGate&) = delete;
  AccountGate& operator=(const AccountGate&) = delete;

  // Loads the sets (throws if the database is unreachable), then follows changes in a thread.
  void start();
  void stop();

  AccessVerdict check(const std::string& user_id, Role role, Timestamp token_issued_at) const;
  // Re-reads one user now: a request that changed the user's status calls it after the read
  // models caught up, so its own process never lags behind the NOTIFY.
  void refresh(pqxx::connection& conn, const std::string& user_id);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace counsel::projections
