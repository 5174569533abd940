#pragma once
// Everything a request handler may use, wired once by main. Handlers get it by reference and
// hold no state of their own.
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "api/command_bus.hpp"
#include "api/http_message.hpp"
#include "api/problem.hpp"
#include "domain/ids.hpp"
#include "infra/config.hpp"
#include "infra/log/log.hpp"

namespace counsel::pg {
class PgPool;
}
namespace counsel::projections {
class ConsistencyWatcher;
class AccountGate;
}  // namespace counsel::projections
namespace counsel::crypto {
class SubjectKeyring;
class PasswordHasher;
}  // namespace counsel::crypto

namespace counsel::api {

class HttpProbe;
class AccessRecorder;
class ReadModelCache;
class KnownCounselors;
class FreshSessions;

struct Principal {
  UserId id;
  Role role = Role::client;
  Actor actor() const { return Actor{id, role}; }
};

struct AppContext {
  Config config;
  pg::PgPool* pool = nullptr;
  log::Log* log = nullptr;
  CommandBus* bus = nullptr;
  crypto::SubjectKeyring* keyring = nullptr;
  crypto::PasswordHasher* hasher = nullptr;
  HttpProbe* probe = nullptr;
  projections::ConsistencyWatcher* watcher = nullptr;
  projections::AccountGate* gate = nullptr;  // suspensions and staff two-factor, per request
  AccessRecorder* access = nullptr;  // reads of others' sensitive data; null in in-process tools
  ReadModelCache* counselor_search_cache = nullptr;  // null: every search runs its query
  KnownCounselors* known_counselors = nullptr;       // null: every booking asks the read model
  FreshSessions* fresh_sessions = nullptr;  // null: a booking's answer reads the read model
  std::string jwt_secret;
  std::string version = "0.1.0";
};

struct AuthOutcome {
  Expected<Principal, ApiError> principal;
};

// Bearer token → principal, or a problem: 401 for a missing, bad or expired token or one the
// account's suspension revoked; 403 account_suspended; 403 two_factor_setup_required for an
// admin or compliance account without two-factor outside /api/v1/auth/2fa/.
// Answered once per request: the outcome is kept in `req.auth` and returned again.
Expected<Principal, ApiError> authenticate(const AppContext& app, const HttpRequest& req);

}  // namespace counsel::api
