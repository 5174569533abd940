#pragma once
// An admin looking behind an anonymous client's alias (issue #4: the real identity is visible
// to no other user, only to an admin with a recorded reason). Shared by the profile routes
// (/users/{id}, /clients/{id}) and patient records; implemented in handlers/profile_handlers.cpp.
#include <string>

#include "api/handler_support.hpp"

namespace counsel::api {

struct IdentityLook {
  bool identity_visible = false;  // false: show the alias view
  std::string consistency_token;  // of the recorded account.identity_revealed, if one was
};

// For `admin` and the client `client_id`: visible at once when the client is not anonymous;
// with `?reason=` (3–500 characters of one-line text, else 400 invalid_parameter) the look is
// first recorded as account.identity_revealed (reason sealed with the client's key), then
// visible; without a reason, not visible.
Expected<IdentityLook, ApiError> admin_identity_look(AppContext& app, const HttpRequest& req,
                                                     const Principal& admin,
                                                     const std::string& client_id);

}  // namespace counsel::api
