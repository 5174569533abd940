#pragma once
// Who may call what: one entry per route of the API, the single declaration of its
// authorization. The role part is enforced here, centrally, by a router guard (a role outside
// an entry's set never reaches the handler); ownership needs the resource's data, so the
// handlers keep enforcing it, and the entry declares what they enforce so that
// tests/e2e/test_authorization_matrix.py can try every route × role × own/other resource.
// `counsel routes` prints the table as JSON. Handlers keep their own checks (defence in depth).
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "api/problem.hpp"
#include "api/router.hpp"
#include "domain/expected.hpp"
#include "domain/ids.hpp"

namespace counsel::api {

// A set of the roles people sign in with (never Role::system, which no token carries).
class RoleSet {
 public:
  constexpr RoleSet() = default;
  constexpr RoleSet(std::initializer_list<Role> roles) {
    for (Role role : roles) bits_ |= bit(role);
  }
  static constexpr RoleSet everyone() {
    return {Role::client, Role::counselor, Role::admin, Role::compliance};
  }
  constexpr bool contains(Role role) const { return (bits_ & bit(role)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  std::vector<Role> list() const;  // in Role's order

 private:
  static constexpr unsigned bit(Role role) { return 1u << static_cast<unsigned>(role); }
  unsigned bits_ = 0;
};

// Who gets past the guard.
enum class Audience {
  anyone,     // no token needed (ops routes, sign-in, the password reset links)
  signed_in,  // any valid token of an active account
  roles,      // a valid token whose role is in the entry's `roles`
};

// What the handler requires of the caller's relation to the resource the path names.
enum class Ownership {
  none,         // any resource of the kind (what the caller sees of it may still differ)
  self,         // the path id is the caller's own account
  owner,        // the caller owns the resource (a patient record's client, a notification's
                // recipient)
  participant,  // the caller takes part: a session's client or counsellor, a patient record's
                // client or their counsellor, a client or the counsellor they have a session with,
                // a chat room's client or counsellor
};

// The kind of thing the path's {id} names.
enum class Resource { none, user, counselor, client, session, patient, notification, room };

struct RouteAccess {
  std::string_view method;
  std::string_view pattern;  // exactly as registered with the router
  Audience audience = Audience::signed_in;
  RoleSet roles = {};  // with Audience::roles; the other audiences mean everyone
  Ownership ownership = Ownership::none;
  Resource resource = Resource::none;
  // Roles the ownership rule does not bind: they may act on any resource of the kind.
  RoleSet ownership_exempt = {};
  // The code of the 403 a role outside `roles` gets: a handler's own code where clients already
  // rely on it.
  std::string_view refusal_code = "forbidden";
  std::string_view note = {};
};

// Every route, in the order the runtime registers them.
const std::vector<RouteAccess>& access_policy();
const RouteAccess* find_route_access(std::string_view method, std::string_view pattern);
// The roles a route lets through (every role for Audience::anyone and Audience::signed_in).
RoleSet allowed_roles(const RouteAccess& access);

// [{method, path, who, roles, ownership, resource, ownership_exempt, refusal_code, note}, ...]
std::string access_policy_json();

// One line per disagreement between the router and the declaration, both ways: a registered
// route without an entry, an entry naming no registered route. Empty when they agree.
std::vector<std::string> access_policy_mismatches(const std::vector<RouteKey>& registered);

// The caller's role from the request's token, or the problem to answer (401, 403
// account_suspended, 403 two_factor_setup_required: see authenticate in app_context.hpp).
using RoleOfRequest = std::function<Expected<Role, ApiError>(const HttpRequest&)>;

// The guard enforcing the role part of the declaration: public routes pass; others need a
// token (its problem otherwise) whose role the entry allows (403 `refusal_code` otherwise). A
// route without an entry is refused: the runtime checks at start that there is none.
RouteGuard make_access_guard(RoleOfRequest role_of);

// Checks that the declaration and `router` name the same routes (throws std::runtime_error
// listing every mismatch: an undeclared route must not be served), then guards `router`.
void install_access_guard(Router& router, RoleOfRequest role_of);

}  // namespace counsel::api
