#include "api/access_policy.hpp"

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>

#include "domain/json.hpp"

namespace counsel::api {

std::vector<Role> RoleSet::list() const {
  std::vector<Role> out;
  for (Role role : {Role::client, Role::counselor, Role::admin, Role::compliance})
    if (contains(role)) out.push_back(role);
  return out;
}

namespace {

constexpr RoleSet kAdmin{Role::admin};
constexpr RoleSet kCompliance{Role::compliance};
constexpr RoleSet kParticipants{Role::client, Role::counselor};
// Patient records: their clients, the counsellors of those clients, admins.
constexpr RoleSet kPatientReaders{Role::client, Role::counselor, Role::admin};

// What each handler enforces (api/handlers/*.cpp), route by route in registration order. When a
// handler changes who may call it, this table changes with it; the runtime refuses to start
// when the two name different routes.
const std::vector<RouteAccess> kPolicy = {
    // ops_handlers.cpp: what load balancers and Prometheus poll.
    {.method = "GET", .pattern = "/health", .audience = Audience::anyone, .note = "liveness"},
    {.method = "GET",
     .pattern = "/status",
     .audience = Audience::anyone,
     .note = "database, log and projection lag"},
    {.method = "GET", .pattern = "/metrics", .audience = Audience::anyone, .note = "Prometheus"},

    // auth_handlers.cpp
    {.method = "POST",
     .pattern = "/api/v1/auth/register",
     .audience = Audience::anyone,
     .note = "self-registration as client or counselor only"},
    {.method = "POST",
     .pattern = "/api/v1/auth/login",
     .audience = Audience::anyone,
     .note = "the password (and a second factor when enabled) is the credential"},
    {.method = "POST",
     .pattern = "/api/v1/auth/refresh",
     .audience = Audience::anyone,
     .note = "the refresh token is the credential"},
    {.method = "POST",
     .pattern = "/api/v1/auth/logout",
     .note = "revokes the caller's own refresh tokens only"},
    {.method = "POST",
     .pattern = "/api/v1/auth/password",
     .note = "the caller's own password; needs the current one"},

    // password_reset_handlers.cpp
    {.method = "POST",
     .pattern = "/api/v1/auth/password/reset",
     .audience = Audience::anyone,
     .note = "202 whether or not the account exists"},
    {.method = "POST",
     .pattern = "/api/v1/auth/password/reset/confirm",
     .audience = Audience::anyone,
     .note = "the emailed one-time token is the credential"},

    // two_factor_handlers.cpp: all a staff token reaches until two-factor is set up.
    {.method = "POST",
     .pattern = "/api/v1/auth/2fa/setup",
     .note = "the caller's own second factor"},
    {.method = "POST",
     .pattern = "/api/v1/auth/2fa/confirm",
     .note = "the caller's own second factor"},

    // admin_handlers.cpp
    {.method = "POST",
     .pattern = "/api/v1/admin/users",
     .audience = Audience::roles,
     .roles = kAdmin,
     .note = "creates compliance accounts only"},
    {.method = "POST",
     .pattern = "/api/v1/admin/users/{id}/verify",
     .audience = Audience::roles,
     .roles = kAdmin,
     .resource = Resource::user,
     .note = "any user"},
    {.method = "POST",
     .pattern = "/api/v1/admin/users/{id}/suspend",
     .audience = Audience::roles,
     .roles = kAdmin,
     .resource = Resource::user,
     .note = "any user but themself (422 cannot_change_own_status) and other admins (403 "
             "role_not_allowed: the ops tool's)"},
    {.method = "POST",
     .pattern = "/api/v1/admin/users/{id}/reinstate",
     .audience = Audience::roles,
     .roles = kAdmin,
     .resource = Resource::user,
     .note = "as suspend"},

    // counselor_handlers.cpp
    {.method = "GET",
     .pattern = "/api/v1/counselors",
     .note = "verified, unsuspended counsellors only"},
    {.method = "GET",
     .pattern = "/api/v1/counselors/{id}",
     .resource = Resource::counselor,
     .note = "an unverified or suspended counsellor is seen only by themself and admins"},
    {.method = "GET",
     .pattern = "/api/v1/counselors/{id}/slots",
     .resource = Resource::counselor,
     .note = "free bookable slots"},
    {.method = "PUT",
     .pattern = "/api/v1/counselors/{id}/profile",
     .audience = Audience::roles,
     .roles = {Role::counselor},
     .ownership = Ownership::self,
     .resource = Resource::counselor,
     .note = "that counsellor alone (403 for anyone else)"},
    {.method = "PUT",
     .pattern = "/api/v1/counselors/{id}/availability",
     .audience = Audience::roles,
     .roles = {Role::counselor},
     .ownership = Ownership::self,
     .resource = Resource::counselor,
     .note = "that counsellor alone (403 for anyone else)"},

    // review_handlers.cpp: reviewers are clients in therapy, so only admins see who wrote what.
    {.method = "GET",
     .pattern = "/api/v1/counselors/{id}/reviews",
     .resource = Resource::counselor,
     .note = "without reviewer identity (admins also see client_id); an unlisted counsellor's "
             "only by themself and admins"},
    {.method = "POST",
     .pattern = "/api/v1/counselors/{id}/reviews",
     .audience = Audience::roles,
     .roles = {Role::client},
     .resource = Resource::counselor,
     .refusal_code = "not_session_client",
     .note = "the session decides: its client only (403 not_session_client), completed (422 "
             "session_not_completed), once (409 already_reviewed); another counsellor's "
             "session 404 session_not_found"},

    // session_handlers.cpp: only a client and a counsellor take part in a session.
    {.method = "POST",
     .pattern = "/api/v1/sessions",
     .audience = Audience::roles,
     .roles = {Role::client},
     .refusal_code = "clients_only",
     .note = "a client books for themself"},
    {.method = "GET",
     .pattern = "/api/v1/sessions",
     .audience = Audience::roles,
     .roles = kParticipants,
     .note = "the caller's own sessions"},
    {.method = "GET",
     .pattern = "/api/v1/sessions/{id}",
     .audience = Audience::roles,
     .roles = kParticipants,
     .ownership = Ownership::participant,
     .resource = Resource::session,
     .note = "others get 404"},
    {.method = "PUT",
     .pattern = "/api/v1/sessions/{id}",
     .audience = Audience::roles,
     .roles = kParticipants,
     .ownership = Ownership::participant,
     .resource = Resource::session,
     .note = "{status}: the counsellor confirms, declines, completes, marks no-show; either "
             "cancels (the session decides, 403 not_session_counselor); others get 404"},
    {.method = "PATCH",
     .pattern = "/api/v1/sessions/{id}",
     .audience = Audience::roles,
     .roles = kParticipants,
     .ownership = Ownership::participant,
     .resource = Resource::session,
     .note = "as PUT"},
    {.method = "POST",
     .pattern = "/api/v1/sessions/{id}/confirm",
     .audience = Audience::roles,
     .roles = {Role::counselor},
     .ownership = Ownership::participant,
     .resource = Resource::session,
     .refusal_code = "not_session_counselor",
     .note = "the session's counsellor; others get 404"},
    {.method = "POST",
     .pattern = "/api/v1/sessions/{id}/decline",
     .audience = Audience::roles,
     .roles = {Role::counselor},
     .ownership = Ownership::participant,
     .resource = Resource::session,
     .refusal_code = "not_session_counselor",
     .note = "the session's counsellor; others get 404"},
    {.method = "POST",
     .pattern = "/api/v1/sessions/{id}/complete",
     .audience = Audience::roles,
     .roles = {Role::counselor},
     .ownership = Ownership::participant,
     .resource = Resource::session,
     .refusal_code = "not_session_counselor",
     .note = "the session's counsellor; others get 404"},
    {.method = "POST",
     .pattern = "/api/v1/sessions/{id}/no-show",
     .audience = Audience::roles,
     .roles = {Role::counselor},
     .ownership = Ownership::participant,
     .resource = Resource::session,
     .refusal_code = "not_session_counselor",
     .note = "the session's counsellor; others get 404"},
    {.method = "POST",
     .pattern = "/api/v1/sessions/{id}/cancel",
     .audience = Audience::roles,
     .roles = kParticipants,
     .ownership = Ownership::participant,
     .resource = Resource::session,
     .note = "either participant; others get 404"},

    // patient_handlers.cpp. Counsellors pass the role check of the write routes so that a
    // record they may not read stays a 404 (ids reveal nothing); their clients' records answer
    // 403 not_patient_owner.
    {.method = "POST",
     .pattern = "/api/v1/patients",
     .audience = Audience::roles,
     .roles = {Role::client, Role::admin},
     .refusal_code = "patient_create_forbidden",
     .note = "a client for themself, an admin for the client named by owner_id"},
    {.method = "GET",
     .pattern = "/api/v1/patients",
     .audience = Audience::roles,
     .roles = kPatientReaders,
     .note = "a client's own record, a counsellor's clients' records, every record for admins"},
    {.method = "GET",
     .pattern = "/api/v1/patients/{id}",
     .audience = Audience::roles,
     .roles = kPatientReaders,
     .ownership = Ownership::participant,
     .resource = Resource::patient,
     .ownership_exempt = kAdmin,
     .note = "its client and their counsellors; others get 404"},
    {.method = "PUT",
     .pattern = "/api/v1/patients/{id}",
     .audience = Audience::roles,
     .roles = kPatientReaders,
     .ownership = Ownership::owner,
     .resource = Resource::patient,
     .ownership_exempt = kAdmin,
     .note = "its client; their counsellors 403, others 404"},
    {.method = "PATCH",
     .pattern = "/api/v1/patients/{id}",
     .audience = Audience::roles,
     .roles = kPatientReaders,
     .ownership = Ownership::owner,
     .resource = Resource::patient,
     .ownership_exempt = kAdmin,
     .note = "its client; their counsellors 403, others 404"},
    {.method = "DELETE",
     .pattern = "/api/v1/patients/{id}",
     .audience = Audience::roles,
     .roles = kPatientReaders,
     .ownership = Ownership::owner,
     .resource = Resource::patient,
     .ownership_exempt = kAdmin,
     .note = "its client; their counsellors 403, others 404"},
    {.method = "POST",
     .pattern = "/api/v1/patients/{id}/add_tag",
     .audience = Audience::roles,
     .roles = kPatientReaders,
     .ownership = Ownership::participant,
     .resource = Resource::patient,
     .ownership_exempt = kAdmin,
     .note = "its client and their counsellors; others get 404"},
    {.method = "POST",
     .pattern = "/api/v1/patients/{id}/remove_tag",
     .audience = Audience::roles,
     .roles = kPatientReaders,
     .ownership = Ownership::owner,
     .resource = Resource::patient,
     .ownership_exempt = kAdmin,
     .note = "its client; their counsellors 403, others 404"},
    {.method = "POST",
     .pattern = "/api/v1/patients/{id}/add_session",
     .audience = Audience::roles,
     .roles = kPatientReaders,
     .ownership = Ownership::participant,
     .resource = Resource::patient,
     .ownership_exempt = kAdmin,
     .note = "its client and their counsellors; others get 404"},
    {.method = "POST",
     .pattern = "/api/v1/patients/{id}/update_wallet",
     .audience = Audience::roles,
     .roles = kPatientReaders,
     .ownership = Ownership::owner,
     .resource = Resource::patient,
     .ownership_exempt = kAdmin,
     .note = "its client; their counsellors 403, others 404"},

    // profile_handlers.cpp
    {.method = "GET", .pattern = "/api/v1/me", .note = "the caller's own account"},
    // privacy_handlers.cpp
    {.method = "GET",
     .pattern = "/api/v1/me/export",
     .note = "everything held about the caller, and who read it; nobody else's data"},
    {.method = "POST",
     .pattern = "/api/v1/me/erase",
     .audience = Audience::roles,
     .roles = kParticipants,
     .note = "the caller themself: at once (200 erased), or 202 pending_approval when a "
             "clinician's records must be kept (a counsellor, a client with a patient record)"},
    {.method = "GET",
     .pattern = "/api/v1/admin/erasure-requests",
     .audience = Audience::roles,
     .roles = kAdmin,
     .note = "erasure requests waiting for approval"},
    {.method = "POST",
     .pattern = "/api/v1/admin/erasure-requests/{id}/approve",
     .audience = Audience::roles,
     .roles = kAdmin,
     .resource = Resource::user,
     .note = "erases the user (409 no_erasure_request when none is pending)"},
    {.method = "POST",
     .pattern = "/api/v1/admin/erasure-requests/{id}/reject",
     .audience = Audience::roles,
     .roles = kAdmin,
     .resource = Resource::user,
     .note = "keeps the records (409 no_erasure_request when none is pending)"},
    {.method = "GET",
     .pattern = "/api/v1/users/{id}",
     .resource = Resource::user,
     .note = "others see the public view; admins the full one, behind an alias only with "
             "?reason= (recorded first)"},
    {.method = "GET",
     .pattern = "/api/v1/clients/{id}",
     .audience = Audience::roles,
     .roles = kPatientReaders,
     .ownership = Ownership::participant,
     .resource = Resource::client,
     .ownership_exempt = kAdmin,
     .note = "the client and the counsellors they have a session with (alias only when "
             "anonymous); admins behind an alias only with ?reason=; others get 404"},
    {.method = "PUT",
     .pattern = "/api/v1/clients/{id}",
     .ownership = Ownership::self,
     .resource = Resource::client,
     .note = "that client alone: 403 for a client's id, 404 for an id that is no client "
             "(only clients have a profile)"},

    // chat_handlers.cpp: a room is its client and counsellor's alone. The routes naming a room
    // let every role reach the handler, so that anyone else, staff included, gets the same 404
    // as for a room that does not exist: a room id reveals nothing.
    {.method = "POST",
     .pattern = "/api/v1/chatrooms",
     .audience = Audience::roles,
     .roles = kParticipants,
     .note = "{session_id} of the caller's booking, or {participant_id}: a client a counsellor "
             "they booked or who reached out first (422 no_booking otherwise), a counsellor any "
             "client"},
    {.method = "GET",
     .pattern = "/api/v1/chatrooms",
     .audience = Audience::roles,
     .roles = kParticipants,
     .note = "the caller's own rooms"},
    {.method = "GET",
     .pattern = "/api/v1/chatrooms/{id}/messages",
     .ownership = Ownership::participant,
     .resource = Resource::room,
     .note = "its two participants; anyone else gets 404 room_not_found"},
    {.method = "POST",
     .pattern = "/api/v1/chatrooms/{id}/messages",
     .ownership = Ownership::participant,
     .resource = Resource::room,
     .note = "its two participants, in their own name; anyone else gets 404 room_not_found"},
    {.method = "POST",
     .pattern = "/api/v1/chatrooms/{id}/read",
     .ownership = Ownership::participant,
     .resource = Resource::room,
     .note = "its two participants, their own read marker; anyone else gets 404 room_not_found"},

    // notification_handlers.cpp: everyone signed in has notifications, and sees only their own.
    {.method = "GET", .pattern = "/api/v1/notifications", .note = "the caller's own notifications"},
    {.method = "POST",
     .pattern = "/api/v1/notifications/read-all",
     .note = "the caller's own notifications"},
    {.method = "POST",
     .pattern = "/api/v1/notifications/{id}/read",
     .ownership = Ownership::owner,
     .resource = Resource::notification,
     .note = "its recipient; others' and unknown ids get 404 notification_not_found"},

    // audit_handlers.cpp: the audit read model is for compliance officers only.
    {.method = "GET",
     .pattern = "/api/v1/audit",
     .audience = Audience::roles,
     .roles = kCompliance,
     .note = "event metadata (never data) filtered by actor, subject, type and time"},
    {.method = "GET",
     .pattern = "/api/v1/audit/verify",
     .audience = Audience::roles,
     .roles = kCompliance,
     .note = "the hash chains' state, incremental per api process (?full=true: from the start)"},
};

std::string_view audience_name(Audience audience) {
  switch (audience) {
    case Audience::anyone:
      return "public";
    case Audience::signed_in:
      return "signed_in";
    case Audience::roles:
      return "roles";
  }
  return "roles";
}

std::string_view ownership_name(Ownership ownership) {
  switch (ownership) {
    case Ownership::none:
      return "none";
    case Ownership::self:
      return "self";
    case Ownership::owner:
      return "owner";
    case Ownership::participant:
      return "participant";
  }
  return "none";
}

std::string_view resource_name(Resource resource) {
  switch (resource) {
    case Resource::none:
      return "none";
    case Resource::user:
      return "user";
    case Resource::counselor:
      return "counselor";
    case Resource::client:
      return "client";
    case Resource::session:
      return "session";
    case Resource::patient:
      return "patient";
    case Resource::notification:
      return "notification";
    case Resource::room:
      return "room";
  }
  return "none";
}

void write_roles(json::Writer& w, RoleSet roles) {
  w.StartArray();
  for (Role role : roles.list()) json::write_string(w, to_string(role));
  w.EndArray();
}

std::string route_name(std::string_view method, std::string_view pattern) {
  return std::string(method) + " " + std::string(pattern);
}

std::string roles_phrase(RoleSet roles) {
  std::string out;
  for (Role role : roles.list()) {
    if (!out.empty()) out += ", ";
    out += to_string(role);
  }
  return out;
}

}  // namespace

const std::vector<RouteAccess>& access_policy() {
  return kPolicy;
}

const RouteAccess* find_route_access(std::string_view method, std::string_view pattern) {
  for (const auto& access : kPolicy)
    if (access.method == method && access.pattern == pattern) return &access;
  return nullptr;
}

RoleSet allowed_roles(const RouteAccess& access) {
  return access.audience == Audience::roles ? access.roles : RoleSet::everyone();
}

std::string access_policy_json() {
  // One route per line: readable on a terminal, and still one JSON document.
  std::string out = "[";
  for (const auto& access : kPolicy) {
    rapidjson::StringBuffer sb;
    json::Writer w(sb);
    w.StartObject();
    json::key(w, "method");
    json::write_string(w, access.method);
    json::key(w, "path");
    json::write_string(w, access.pattern);
    json::key(w, "who");
    json::write_string(w, audience_name(access.audience));
    json::key(w, "roles");
    write_roles(w, allowed_roles(access));
    json::key(w, "ownership");
    json::write_string(w, ownership_name(access.ownership));
    json::key(w, "resource");
    json::write_string(w, resource_name(access.resource));
    json::key(w, "ownership_exempt");
    write_roles(w, access.ownership_exempt);
    json::key(w, "refusal_code");
    json::write_string(w, access.refusal_code);
    json::key(w, "note");
    json::write_string(w, access.note);
    w.EndObject();
    out += out.size() == 1 ? "\n  " : ",\n  ";
    out.append(sb.GetString(), sb.GetSize());
  }
  out += "\n]\n";
  return out;
}

std::vector<std::string> access_policy_mismatches(const std::vector<RouteKey>& registered) {
  std::vector<std::string> problems;
  for (const auto& route : registered) {
    if (!find_route_access(route.method, route.pattern))
      problems.push_back(route_name(route.method, route.pattern) +
                         " is registered but api/access_policy.cpp does not say who may call it");
  }
  for (const auto& access : kPolicy) {
    bool found = false;
    for (const auto& route : registered)
      found = found || (route.method == access.method && route.pattern == access.pattern);
    if (!found)
      problems.push_back(route_name(access.method, access.pattern) +
                         " is in api/access_policy.cpp but no handler registers it");
  }
  return problems;
}

RouteGuard make_access_guard(RoleOfRequest role_of) {
  // Looked up per request: keyed once here rather than scanned.
  auto by_route = std::make_shared<std::map<std::string, const RouteAccess*, std::less<>>>();
  for (const auto& access : kPolicy)
    (*by_route)[route_name(access.method, access.pattern)] = &access;

  return [by_route, role_of = std::move(role_of)](
             const HttpRequest& request,
             std::string_view route_template) -> std::optional<HttpResponse> {
    auto found = by_route->find(route_name(request.method, route_template));
    if (found == by_route->end())
      return problem_response(forbidden("forbidden", "No access policy covers this route."),
                              request.path);
    const RouteAccess& access = *found->second;
    if (access.audience == Audience::anyone) return std::nullopt;
    auto role = role_of(request);
    if (!role) return problem_response(role.error(), request.path);
    const RoleSet allowed = allowed_roles(access);
    if (!allowed.contains(*role))
      return problem_response(
          forbidden(std::string(access.refusal_code),
                    "This route is for " + roles_phrase(allowed) + " accounts only."),
          request.path);
    return std::nullopt;
  };
}

void install_access_guard(Router& router, RoleOfRequest role_of) {
  auto mismatches = access_policy_mismatches(router.routes());
  if (!mismatches.empty()) {
    std::string message = "the access policy and the registered routes disagree:";
    for (const auto& mismatch : mismatches) message += "\n  " + mismatch;
    throw std::runtime_error(message);
  }
  router.set_guard(make_access_guard(std::move(role_of)));
}

}  // namespace counsel::api
